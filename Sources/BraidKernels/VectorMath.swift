// Small vector kernels of the transformer forward pass: dot product, RMSNorm, SiLU gating and
// softmax. Plain Swift SIMD, portable to every CPU.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Vector kernels over raw Float buffers.
public enum VectorMath {
    /// Σ a[i]·b[i] over `count` floats, accumulated in 8 lanes (always inlined: attention calls
    /// it once per key and row, over one head, where a call's overhead would rival the work).
    @inlinable @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        var i = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i + 16 <= count {
            acc0 += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                * rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            acc1 += ra.loadUnaligned(fromByteOffset: 4 * i + 32, as: SIMD8<Float>.self)
                * rb.loadUnaligned(fromByteOffset: 4 * i + 32, as: SIMD8<Float>.self)
            i += 16
        }
        var sum = (acc0 + acc1).sum()
        while i < count {
            sum += a[i] * b[i]
            i += 1
        }
        return sum
    }

    /// Whether all `count` floats are finite (no NaN, no infinity): x − x is 0 for a finite x and
    /// NaN otherwise, so a sum of them stays 0 only if every one is finite.
    public static func allFinite(_ x: UnsafePointer<Float>, count: Int) -> Bool {
        var acc = SIMD8<Float>()
        var i = 0
        let raw = UnsafeRawPointer(x)
        while i + 8 <= count {
            let v = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            acc += v - v
            i += 8
        }
        var sum = acc.sum()
        while i < count {
            sum += x[i] - x[i]
            i += 1
        }
        return sum == 0
    }

    /// y += s·x over `count` floats.
    @inlinable
    public static func addScaled(_ x: UnsafePointer<Float>, scale s: Float, into y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y)
        while i + 8 <= count {
            let v = ry.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                + rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) * s
            ry.storeBytes(of: v, toByteOffset: 4 * i, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            y[i] += s * x[i]
            i += 1
        }
    }

    /// x *= s over `count` floats.
    @inlinable
    public static func scale(_ x: UnsafeMutablePointer<Float>, by s: Float, count: Int) {
        for i in 0..<count { x[i] *= s }
    }

    /// out = x / sqrt(mean(x²) + epsilon) ⊙ weight (RMSNorm, Zhang & Sennrich 2019).
    public static func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, epsilon: Float,
                               into out: UnsafeMutablePointer<Float>, count: Int) {
        var sumSquares: Float = 0
        for i in 0..<count { sumSquares += x[i] * x[i] }
        let scale = 1 / (sumSquares / Float(count) + epsilon).squareRoot()
        for i in 0..<count { out[i] = x[i] * scale * weight[i] }
    }

    /// gate[i] = silu(gate[i]) · up[i], the SwiGLU activation (Shazeer 2020).
    public static func swiGLU(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        let g = UnsafeMutableRawPointer(gate), u = UnsafeRawPointer(up)
        var i = 0
        while i + 8 <= count {
            let x = g.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            let y = x / (1 + exp(-x)) * u.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            g.storeBytes(of: y, toByteOffset: 4 * i, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            gate[i] = gate[i] / (1 + expf(-gate[i])) * up[i]
            i += 1
        }
    }

    /// In-place softmax over `count` values; returns nothing, the values become probabilities.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let sum = exponentiate(x, subtracting: maximum(x, count: count), count: count)
        let inverse = 1 / sum
        for i in 0..<count { x[i] *= inverse }
    }

    /// The largest of `count` values (−∞ for none).
    public static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        let raw = UnsafeRawPointer(x)
        var lanes = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        while i + 8 <= count {
            let x = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            lanes.replace(with: x, where: x .> lanes)
            i += 8
        }
        var result = lanes.max()
        while i < count {
            result = max(result, x[i])
            i += 1
        }
        return result
    }

    /// x[i] = e^(x[i] − shift) in place; returns Σ of the results.
    @discardableResult
    public static func exponentiate(_ x: UnsafeMutablePointer<Float>, subtracting shift: Float, count: Int) -> Float {
        let raw = UnsafeMutableRawPointer(x)
        var sums = SIMD8<Float>()
        var i = 0
        while i + 8 <= count {
            let e = exp(raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) - shift)
            raw.storeBytes(of: e, toByteOffset: 4 * i, as: SIMD8<Float>.self)
            sums += e
            i += 8
        }
        var sum = sums.sum()
        while i < count {
            x[i] = expf(x[i] - shift)
            sum += x[i]
            i += 1
        }
        return sum
    }

    /// e^x lane by lane, within 2 ulp of `expf` (Cephes' method: x = n·ln2 + r with |r| ≤ ln2/2,
    /// a degree-6 polynomial for e^r, then 2ⁿ through the exponent bits). −∞ and anything below
    /// −87.3 give 0; anything above 88.37 (where 2ⁿ would overflow; expf overflows at 88.72) +∞.
    @inlinable @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let low = SIMD8<Float>(repeating: -87.33654), high = SIMD8<Float>(repeating: 88.37626)
        let clamped = x.replacing(with: low, where: x .< low).replacing(with: high, where: x .> high)
        // n = round(x·log2 e) by the 1.5·2²³ trick: the sum's low mantissa bits hold n.
        let shifted = clamped * 1.442695041 + 12582912
        let n = shifted - 12582912
        // r = x − n·ln2 in two steps (ln2 = 0.693359375 − 2.12194440e-4), exact enough in Float.
        let r = clamped - n * 0.693359375 + n * 2.12194440e-4
        var p = SIMD8<Float>(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let er = p * (r * r) + r + 1
        let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
        let scale = unsafeBitCast((integer &+ 127) &<< 23, to: SIMD8<Float>.self)
        return (er * scale).replacing(with: 0, where: x .< low).replacing(with: .infinity, where: x .> high)
    }
}
