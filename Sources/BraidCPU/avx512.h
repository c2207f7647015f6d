// Marker header of the BraidAVX512 module (see module.modulemap): importable only in builds that
// target AVX-512 (x86-64-v4).
