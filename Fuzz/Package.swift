// swift-tools-version: 6.2
// Loupe's fuzz targets: a separate package, built with libFuzzer and AddressSanitizer by
// Scripts/fuzz.sh (swift build --sanitize=fuzzer --sanitize=address …). Users never build it.
import PackageDescription

let package = Package(
    name: "LoupeFuzz",
    dependencies: [.package(name: "Loupe", path: "..")],
    targets: [
        .executableTarget(name: "loupe-fuzz", dependencies: [.product(name: "Loupe", package: "Loupe")], path: "Sources/LoupeFuzz"),
    ]
)
