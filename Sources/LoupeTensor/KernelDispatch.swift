internal import LoupeKernels

/// Which instruction set the C kernels use; detected at run time.
public enum KernelDispatch {
    /// The instruction sets a kernel can run on.
    public enum Level: Int, Sendable, Comparable {
        /// Portable C, no SIMD intrinsics.
        case scalar = 0
        /// AVX2 with FMA (x86-64 since Haswell / Zen).
        case avx2 = 1
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    /// The level in use now.
    public static var level: Level { Level(rawValue: Int(lk_simd_level())) ?? .scalar }

    /// Runs `body` with the kernels limited to `level` (e.g. `.scalar` to test the fallback),
    /// then restores run-time detection. Affects every thread while `body` runs.
    public static func withLevel<R>(_ level: Level, _ body: () throws -> R) rethrows -> R {
        lk_force_simd_level(Int32(level.rawValue))
        defer { lk_force_simd_level(-1) }
        return try body()
    }
}
