import CZlib

/// QR codes as image files: SVG as one path of crisp squares, PNG as a 1-bit greyscale image.
/// Both with the quiet zone of 4 modules and dark modules black on white.
public enum QRImage {
    /// One `M x y h w v1 h-w z` run per horizontal stretch of dark modules, in module units, so
    /// any scale stays crisp.
    public static func svg(_ code: QRCode, pixelsPerModule: Int = 8) -> String {
        let side = code.sizeWithQuietZone
        var path = ""
        for y in 0..<side {
            var x = 0
            while x < side {
                guard code.isDark(x: x, y: y) else { x += 1; continue }
                var run = 1
                while x + run < side && code.isDark(x: x + run, y: y) { run += 1 }
                path += "M\(x) \(y)h\(run)v1h-\(run)z"
                x += run
            }
        }
        let pixels = side * pixelsPerModule
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(pixels)" height="\(pixels)" viewBox="0 0 \(side) \(side)" shape-rendering="crispEdges">
            <rect width="\(side)" height="\(side)" fill="#fff"/>
            <path fill="#000" d="\(path)"/>
            </svg>

            """
    }

    /// A PNG (ISO/IEC 15948): IHDR for a 1-bit greyscale image, IDAT deflated by zlib, IEND.
    public static func png(_ code: QRCode, pixelsPerModule: Int = 8) throws(TwofaError) -> [UInt8] {
        let side = code.sizeWithQuietZone
        let width = side * pixelsPerModule
        let rowBytes = (width + 7) / 8
        var raw = [UInt8]()
        raw.reserveCapacity((rowBytes + 1) * width)
        for y in 0..<side {
            var row = [UInt8](repeating: 0, count: rowBytes)
            for pixel in 0..<width where !code.isDark(x: pixel / pixelsPerModule, y: y) {
                row[pixel / 8] |= 0x80 >> UInt8(pixel % 8)  // 1 is white in greyscale
            }
            for _ in 0..<pixelsPerModule {
                raw.append(0)  // filter type None
                raw += row
            }
        }
        let zlib = try ZlibLibrary.load()
        var compressedSize = zlib.compressBound(uLong(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
        let status = zlib.compress2(&compressed, &compressedSize, raw, uLong(raw.count), Z_BEST_COMPRESSION)
        guard status == Z_OK else { throw .internalError("zlib could not compress the image (\(status))") }
        compressed.removeSubrange(Int(compressedSize)...)

        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header = bigEndian(UInt32(width)) + bigEndian(UInt32(width))
        header += [1, 0, 0, 0, 0]  // bit depth 1, greyscale, deflate, adaptive filtering, no interlace
        chunk("IHDR", header, into: &png, crc32: zlib.crc32)
        chunk("IDAT", compressed, into: &png, crc32: zlib.crc32)
        chunk("IEND", [], into: &png, crc32: zlib.crc32)
        return png
    }

    private static func chunk(_ type: String, _ data: [UInt8], into png: inout [UInt8], crc32: ZlibLibrary.CRC32) {
        let typeBytes = Array(type.utf8)
        png += bigEndian(UInt32(data.count))
        png += typeBytes
        png += data
        var crc = crc32(0, typeBytes, uInt(typeBytes.count))
        crc = data.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt(data.count)) }
        png += bigEndian(UInt32(truncatingIfNeeded: crc))
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }
}
