import ArgumentParser
import Foundation
import Loupe

@main
struct LoupeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loupe",
        abstract: "Content-based image retrieval with object embeddings.",
        discussion: """
        Classifier weights are read from .cache/models (made by Scripts/setup.sh), YOLOX weights \
        from ../shared/models, or from the path given with --weights (`loupe models` lists where \
        each is looked for); ImageNet labels from the darknet package's data in .cache/darknet/data. \
        `index --objects` keeps every image as its whole-image vector plus one vector per object \
        (YOLOX boxes), `search` on such an index says which boxes matched, and `distill` trains a \
        head inside YOLOX to produce those vectors without the classifier. Every command has --help. \
        To compare backbones, layers, poolings, whitening dimensions and global / object / student \
        embeddings over a whole dataset at once, run the analysis grid: \
        swift run -c release --package-path Benchmarks loupe-analysis --help.

        Images that cannot be read are skipped, named and counted in every command that reads many \
        (--strict stops at the first). Progress goes to standard error on a terminal \
        (LOUPE_PROGRESS=lines for a line per tenth in logs, none for silence).

        \(ExitStatus.table)
        """,
        version: LoupeCommand.version,
        subcommands: [Classify.self, Detect.self, Features.self, Index.self, Search.self, Sources.self, Eval.self, Whiten.self, Distill.self, Models.self])
}

extension LoupeCommand {
    /// Loupe's version, printed by `loupe --version`; index files record their own format version.
    static let version = "0.8.0 (index format \(ObjectIndex.formatVersion), recipe format \(EmbeddingRecipe.formatVersion))"
}

/// Options every command that runs networks shares.
struct ComputeOptions: ParsableArguments {
    @Option(help: "Threads for every kernel (default: the number of cores, or LOUPE_THREADS).")
    var threads: Int?

    func apply() throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            if threads > cores {
                printError("warning: --threads \(threads) is more than the \(cores) cores of this machine; it will run slower than with \(cores)")
            }
            ComputeThreads.count = threads
        } else if let text = ProcessInfo.processInfo.environment["LOUPE_THREADS"], Int(text).map({ $0 < 1 }) ?? true {
            printError("warning: LOUPE_THREADS=\(text) is not a positive whole number; using \(ComputeThreads.count) threads")
        }
    }
}

/// Finds Loupe's cache folder: $LOUPE_CACHE, ./.cache, or the .cache of the checkout the binary was
/// built in (so `.build/release/loupe` works from anywhere).
enum Cache {
    static var candidates: [URL] {
        var list: [URL] = []
        if let env = ProcessInfo.processInfo.environment["LOUPE_CACHE"] { list.append(URL(fileURLWithPath: env)) }
        list.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".cache"))
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            list.append(dir.appendingPathComponent(".cache"))
        }
        return list
    }

    /// The first existing `relative` path under a candidate cache folder.
    static func find(_ relative: String) -> URL? {
        candidates.map { $0.appendingPathComponent(relative) }.first { FileManager.default.fileExists(atPath: $0.path) }
    }
}

/// Writes to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Prints `value` as pretty, key-sorted JSON on standard output (the `--json` of every command).
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

extension WeightStore {
    /// The library's standard store, plus the caches beside the running binary's checkout (so
    /// that `.build/release/loupe` finds `.cache/models` and `../shared/models` from anywhere).
    static func cli() -> WeightStore {
        var store = WeightStore.standard()
        for cache in Cache.candidates {
            let beside = [cache.appendingPathComponent("models"), cache.appendingPathComponent("darknet/data"),
                          cache.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/models")]
            store.folders += beside.filter { FileManager.default.fileExists(atPath: $0.path) }
        }
        var seen = Set<String>()
        store.folders = store.folders.filter { seen.insert($0.standardizedFileURL.path).inserted }
        return store
    }
}
