// swift-tools-version: 6.2
// Loupe's benchmarks: a separate package so that the library's users never build them.
// Run in release mode only:  swift run -c release --package-path Benchmarks loupe-kernel-bench
import PackageDescription

let package = Package(
    name: "LoupeBenchmarks",
    dependencies: [
        .package(name: "Loupe", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CBenchOpenBLAS", path: "Sources/CBenchOpenBLAS", pkgConfig: "openblas"),
        .executableTarget(
            name: "loupe-kernel-bench",
            dependencies: [.product(name: "LoupeTensor", package: "Loupe"), "CBenchOpenBLAS"],
            path: "Sources/KernelBench"),
        .executableTarget(
            name: "loupe-image-bench",
            dependencies: [.product(name: "LoupeImage", package: "Loupe"), .product(name: "LoupeTensor", package: "Loupe")],
            path: "Sources/ImageBench"),
        .executableTarget(
            name: "loupe-features-bench",
            dependencies: [.product(name: "LoupeImage", package: "Loupe")],
            path: "Sources/FeatureBench"),
        .executableTarget(
            name: "loupe-model-bench",
            dependencies: [.product(name: "LoupeModels", package: "Loupe"), .product(name: "LoupeDetection", package: "Loupe"),
                           .product(name: "LoupeTensor", package: "Loupe")],
            path: "Sources/ModelBench"),
        .executableTarget(
            name: "loupe-search-bench",
            dependencies: [.product(name: "LoupeTensor", package: "Loupe")],
            path: "Sources/SearchBench"),
        .executableTarget(
            name: "loupe-quantized-bench",
            dependencies: [.product(name: "LoupeRetrieval", package: "Loupe"), .product(name: "LoupeTensor", package: "Loupe")],
            path: "Sources/QuantizedBench"),
        .executableTarget(
            name: "loupe-open-bench",
            dependencies: [.product(name: "Loupe", package: "Loupe")],
            path: "Sources/OpenBench"),
        .executableTarget(
            name: "loupe-object-bench",
            dependencies: [.product(name: "Loupe", package: "Loupe")],
            path: "Sources/ObjectBench"),
        .executableTarget(
            name: "loupe-index-bench",
            dependencies: [.product(name: "Loupe", package: "Loupe")],
            path: "Sources/IndexBench"),
        .executableTarget(
            name: "loupe-analysis",
            dependencies: [.product(name: "Loupe", package: "Loupe"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/Analysis"),
    ],
    swiftLanguageModes: [.v6]
)
