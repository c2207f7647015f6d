// Marker header of the BraidAVX2 module (see module.modulemap): importable only in builds that
// target AVX2, FMA and F16C.
