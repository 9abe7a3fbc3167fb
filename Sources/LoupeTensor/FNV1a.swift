/// FNV-1a, 64-bit: a cheap, stable identity for cache keys and the checksums recipes record (not
/// a cryptographic hash). Each `combine` folds one value in: `h = (h XOR value) · prime`.
public struct FNV1a: Sendable, Hashable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    /// Folds in one value (a byte, or a whole word such as a float's bit pattern).
    public mutating func combine(_ word: UInt64) { value = (value ^ word) &* 0x100_0000_01b3 }

    /// Folds in each byte.
    public mutating func combine(bytes: some Sequence<UInt8>) { for b in bytes { combine(UInt64(b)) } }

    /// The value in lower-case hexadecimal.
    public var hex: String { String(value, radix: 16) }

    /// The hash of a string's UTF-8 bytes, in hexadecimal.
    public static func hex(_ text: String) -> String {
        var h = FNV1a()
        h.combine(bytes: text.utf8)
        return h.hex
    }
}
