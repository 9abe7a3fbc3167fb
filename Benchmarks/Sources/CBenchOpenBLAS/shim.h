#pragma once
// OpenBLAS called directly, with its own thread pool: the reference the benchmarks compare to.
#include <cblas.h>
