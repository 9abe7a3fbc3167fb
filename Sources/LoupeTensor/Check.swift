/// Traps with `message` when `condition` is false, in every build configuration.
///
/// Loupe's programmer errors (mismatched shapes, bad arguments) must name the values involved;
/// the standard `precondition` drops its message in optimised builds, so this one calls
/// `fatalError`, which always prints it.
package func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
           file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
