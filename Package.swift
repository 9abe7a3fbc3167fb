// swift-tools-version: 6.2
// Loupe: content-based image retrieval with object embeddings.
//
// Layering (see Documentation/Architecture.md):
//   system shims + LoupeKernels (the one C target)  <-  LoupeTensor  <-  everything else.
// Only LoupeTensor (and, later, LoupeImage) import C; modules above are memory-safe Swift.
import PackageDescription

// Strict memory-safety checking (SE-0458) for the modules that hold no unsafe code: any unsafe
// construct there is reported. The modules that wrap C (LoupeTensor, LoupeImage) and the numeric
// loops over tensor buffers (LoupeModels, LoupeRetrieval, LoupeWhitening, LoupeDistillation) are
// listed in Documentation/Architecture.md.
let memorySafe: [SwiftSetting] = [.strictMemorySafety()]

let package = Package(
    name: "Loupe",
    products: [
        .executable(name: "loupe", targets: ["LoupeCLI"]),
        .library(name: "LoupeTensor", targets: ["LoupeTensor"]),
        .library(name: "LoupeImage", targets: ["LoupeImage"]),
        .library(name: "LoupeModels", targets: ["LoupeModels"]),
        .library(name: "LoupeDetection", targets: ["LoupeDetection"]),
        .library(name: "LoupeWhitening", targets: ["LoupeWhitening"]),
        .library(name: "LoupeRetrieval", targets: ["LoupeRetrieval"]),
        .library(name: "LoupeEmbedding", targets: ["LoupeEmbedding"]),
        .library(name: "LoupeDistillation", targets: ["LoupeDistillation"]),
        .library(name: "Loupe", targets: ["Loupe"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation --target LoupeTensor` (DocC catalogs in Sources/*/*.docc)
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // System libraries, found through pkg-config; apt provides them on Debian.
        .systemLibrary(
            name: "CLoupeOpenBLAS", path: "Sources/CLoupeOpenBLAS",
            pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CLoupeLAPACKE", path: "Sources/CLoupeLAPACKE",
            pkgConfig: "lapacke", providers: [.apt(["liblapacke-dev"])]),
        .systemLibrary(
            name: "CLoupePNG", path: "Sources/CLoupePNG",
            pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(
            name: "CLoupeJPEG", path: "Sources/CLoupeJPEG",
            pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),

        // The one C target: SIMD kernels, no allocation, AVX2/FMA chosen at run time.
        .target(name: "LoupeKernels", dependencies: ["CLoupePNG", "CLoupeJPEG"]),

        .target(
            name: "LoupeTensor",
            dependencies: ["LoupeKernels", "CLoupeOpenBLAS", "CLoupeLAPACKE"]),

        .target(name: "LoupeImage", dependencies: ["LoupeTensor", "LoupeKernels"]),
        .target(name: "LoupeModels", dependencies: ["LoupeTensor", "LoupeImage"]),
        .target(name: "LoupeDetection", dependencies: ["LoupeTensor", "LoupeImage", "LoupeModels"], swiftSettings: memorySafe),
        .target(name: "LoupeWhitening", dependencies: ["LoupeTensor"]),
        .target(name: "LoupeRetrieval", dependencies: ["LoupeTensor", "LoupeKernels", "LoupeImage", "LoupeModels", "LoupeWhitening"]),
        // the pipeline: embedders, region proposals, recipes rebuilt into embedders, collection
        // indexing, the recipe sweep and evaluation
        .target(name: "LoupeEmbedding", dependencies: ["LoupeTensor", "LoupeImage", "LoupeModels", "LoupeDetection",
                                                       "LoupeWhitening", "LoupeRetrieval"],
                swiftSettings: memorySafe),
        // training only: pair sets, augmentation, losses, Adam, the trainer
        .target(name: "LoupeDistillation", dependencies: ["LoupeTensor", "LoupeDetection", "LoupeEmbedding"]),
        // the umbrella: re-exports, nothing else
        .target(name: "Loupe", dependencies: ["LoupeEmbedding", "LoupeDistillation"], swiftSettings: memorySafe),

        .executableTarget(
            name: "LoupeCLI",
            dependencies: ["Loupe", "LoupeDetection",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: memorySafe),

        // Examples: tiny programs showing one query flow each.
        .executableTarget(name: "spliced-search", dependencies: ["Loupe"], path: "Examples/spliced-search"),
        .executableTarget(name: "index-folder", dependencies: ["LoupeEmbedding"], path: "Examples/index-folder",
                          swiftSettings: memorySafe),
        .executableTarget(name: "search-box", dependencies: ["LoupeEmbedding"], path: "Examples/search-box",
                          swiftSettings: memorySafe),
        .executableTarget(name: "evaluate-dataset", dependencies: ["LoupeEmbedding"], path: "Examples/evaluate-dataset",
                          swiftSettings: memorySafe),

        .testTarget(name: "LoupeTensorTests", dependencies: ["LoupeTensor"]),
        .testTarget(name: "LoupeImageTests", dependencies: ["LoupeImage"]),
        .testTarget(name: "LoupeModelsTests", dependencies: ["LoupeModels"]),
        .testTarget(name: "LoupeWhiteningTests", dependencies: ["LoupeWhitening"]),
        .testTarget(name: "LoupeRetrievalTests", dependencies: ["LoupeRetrieval"]),
        .testTarget(name: "LoupeTests", dependencies: ["Loupe"]),
        .testTarget(name: "LoupeDetectionTests", dependencies: ["LoupeDetection"]),
        .testTarget(name: "LoupeDistillationTests", dependencies: ["LoupeDistillation", "LoupeEmbedding"]),
    ],
    swiftLanguageModes: [.v6]
)
