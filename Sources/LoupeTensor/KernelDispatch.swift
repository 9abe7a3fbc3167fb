internal import LoupeKernels

/// Which instruction set the C kernels use; detected at run time.
public enum KernelDispatch {
    /// The instruction sets a kernel can run on.
    public enum Level: Int, Sendable, Comparable {
        /// Portable C, no SIMD intrinsics.
        case scalar = 0
        /// AVX2 with FMA (x86-64 since Haswell / Zen).
        case avx2 = 1
        /// AVX-512 F, BW, DQ and VL (Skylake-SP and later Xeons, Zen 4 and later), where the OS
        /// saves the zmm state. Kernels without an AVX-512 version run their AVX2 one.
        case avx512 = 2
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    /// The level in use now (the environment variable `LOUPE_ISA` — `scalar`, `avx2` or
    /// `avx512` — caps it for the whole process).
    public static var level: Level { Level(rawValue: Int(lk_simd_level())) ?? .scalar }

    /// The highest level this CPU and OS allow.
    public static var detected: Level { Level(rawValue: Int(lk_simd_level_detected())) ?? .scalar }

    /// Every level this machine can run, lowest first (what tests run each kernel at).
    public static var available: [Level] { [.scalar, .avx2, .avx512].filter { $0 <= detected } }

    /// Runs `body` with the kernels limited to `level` (e.g. `.scalar` to test the fallback),
    /// then restores run-time detection. Affects every thread while `body` runs.
    public static func withLevel<R>(_ level: Level, _ body: () throws -> R) rethrows -> R {
        lk_force_simd_level(Int32(level.rawValue))
        defer { lk_force_simd_level(-1) }
        return try body()
    }
}
