import ArgumentParser
import Foundation
import Loupe
import LoupeTensor

/// A failure a command states itself, with the exit status of its kind.
enum CLIError: Error, CustomStringConvertible {
    /// The command line asks for something that cannot be done (exit status 64).
    case usage(String)
    /// An input's content is wrong: a damaged image or index, weights of another network (65).
    case data(String)
    /// A file could not be read or written (74).
    case io(String)

    var description: String {
        switch self { case let .usage(text), let .data(text), let .io(text): text }
    }
}

/// Ends a command whose inputs failed one by one (each already named on standard error) with the
/// status of the first failure.
struct InputsFailed: Error {
    var first: any Error
}

/// The exit statuses of every `loupe` command (the BSD `sysexits.h` codes), documented in the
/// README and in `loupe --help`.
enum ExitStatus {
    static let success: Int32 = 0
    /// Any failure of no kind below.
    static let partial: Int32 = 1
    /// The command line: an unknown option or value, an option that does not apply, an output
    /// that would replace an input.
    static let usage: Int32 = 64
    /// An input's content: an image that does not decode, an index, whitening, head or weights
    /// file that is damaged or of another kind, a recipe that does not match.
    static let data: Int32 = 65
    /// An input that does not exist: an image, a folder, an index, weights.
    static let noInput: Int32 = 66
    /// Reading or writing failed: permissions, a full disk.
    static let io: Int32 = 74

    /// The help text's table.
    static let table = """
    Exit status: 0 success; 64 usage (an option, value or output path that cannot be used); 65 \
    data (an image, index, weights or whitening file that is damaged or of another kind); 66 an \
    input that does not exist; 74 reading or writing failed; 1 anything else. When some of several \
    query images fail, each is named, the others' results are printed, and the status is the first \
    failure's.
    """

    /// The status for `error`.
    static func of(_ error: any Error) -> Int32 {
        switch error {
        case let error as CLIError:
            switch error { case .usage: usage; case .data: data; case .io: io }
        case is ValidationError: usage
        case let error as InputsFailed: of(error.first)
        case let error as SkippedFile: of(error.error)
        case let error as ImageError:
            switch error {
            case let .unreadable(path, _): missing(path) ? noInput : io
            case .unwritable: io
            default: data
            }
        case let error as CollectionError:
            switch error { case .notFound: noInput; case .noImages: data; case .unreadable: io }
        case let error as IndexError:
            switch error {
            case let .unreadable(url, inner): missing(url.path) ? noInput : of(inner)
            case .unwritable: io
            case .invalidK: usage
            default: data
            }
        case let error as SafetensorsError:
            if case let .io(path, _) = error { missing(path) ? noInput : io } else { data }
        case let error as EmbedderError:
            switch error {
            case let .image(_, inner): of(inner)
            case let .weights(inner): of(inner)
            case .invalidOption, .whiteningMissing: usage
            case .whitening, .recipe, .wrongMode: data
            }
        case let error as WeightStoreError:
            switch error {
            case .notFound: noInput
            case .checksumMismatch: data
            case let .unreadable(file, inner): missing(file.path) ? noInput : of(inner)
            }
        case let error as BackboneError:
            switch error { case .missingWeights: noInput; default: data }
        case let error as DatasetError:
            if case let .unreadable(path) = error { missing(path) ? noInput : io } else { data }
        case is FileWriteError: io
        case is WeightLoadingError, is WhiteningError, is StudentHeadError, is RecipeError, is LabelError, is EigenError: data
        default: partial
        }
    }

    private static func missing(_ path: String) -> Bool { !FileManager.default.fileExists(atPath: path) }
}

extension LoupeCommand {
    /// Parses, runs, and ends with the status of ``ExitStatus``: a usage error from the parser
    /// prints the command's usage (ArgumentParser's), a failure while running prints
    /// `error: …` alone, with the command's help named for usage errors.
    static func main() async {
        let command: any ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand { try await asyncCommand.run() } else {
                var syncCommand = command
                try syncCommand.run()
            }
        } catch {
            let status = ExitStatus.of(error)
            // ArgumentParser's own (help, clean exits, exit codes) are its to print
            guard status != ExitStatus.partial else { exit(withError: error) }
            let text = (error as? ValidationError)?.message ?? "\(error)"
            if !(error is InputsFailed) { printError("error: " + text) }
            if status == ExitStatus.usage { printError("See 'loupe \(path(of: type(of: command))) --help'.") }
            Foundation.exit(status)
        }
    }

    /// `index`, `whiten fit`, … for a command type.
    static func path(of type: any ParsableCommand.Type) -> String {
        func search(_ commands: [any ParsableCommand.Type], _ prefix: [String]) -> [String]? {
            for command in commands {
                let name = command.configuration.commandName ?? command._commandName
                if command == type { return prefix + [name] }
                if let found = search(command.configuration.subcommands, prefix + [name]) { return found }
            }
            return nil
        }
        return search(configuration.subcommands, [])?.joined(separator: " ") ?? ""
    }
}

/// `error`'s message, naming `path` once (library errors about a file already name it).
func errorMessage(_ error: any Error, about path: String) -> String {
    let text = "\(error)"
    return text.hasPrefix(path) || text.contains(" \(path)") ? text : "\(path): \(text)"
}

/// `body` for every input in order: a failing input is named on standard error and skipped;
/// `failure` ends the command afterwards with the status of the first (after the others' output).
func forEachInput<T>(_ paths: [String], _ body: (Int, String) throws -> T) -> (results: [T], failure: InputsFailed?) {
    var results: [T] = [], failure: InputsFailed?
    for (i, path) in paths.enumerated() {
        do { results.append(try body(i, path)) } catch {
            printError(errorMessage(error, about: path))
            if failure == nil { failure = InputsFailed(first: error) }
        }
    }
    return (results, failure)
}
