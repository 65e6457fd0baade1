@testable import SluiceCore

/// Byte-exact examples copied from `DLQ-FORMAT.md`.
enum SpecExamples {
    /// §3.3: a segment holding one 253-byte entry (the 180-byte event of §5.5, stringref on).
    static let tinySegmentDump = """
        00000000  31 63 00 00 00 fd ff ff ff ff de 24 07 99 00 00  |1c.........$....|
        00000010  00 18 32 30 32 35 2d 30 31 2d 30 32 54 30 33 3a  |..2025-01-02T03:|
        00000020  30 34 3a 30 35 2e 36 37 39 5a 00 00 00 b4 d9 01  |04:05.679Z......|
        00000030  00 9f 71 6a 61 76 61 2e 75 74 69 6c 2e 48 61 73  |..qjava.util.Has|
        00000040  68 4d 61 70 bf 64 44 41 54 41 9f 78 19 6f 72 67  |hMap.dDATA.x.org|
        00000050  2e 6c 6f 67 73 74 61 73 68 2e 43 6f 6e 76 65 72  |.logstash.Conver|
        00000060  74 65 64 4d 61 70 bf 67 6d 65 73 73 61 67 65 9f  |tedMap.gmessage.|
        00000070  74 6f 72 67 2e 6a 72 75 62 79 2e 52 75 62 79 53  |torg.jruby.RubyS|
        00000080  74 72 69 6e 67 62 68 69 ff 68 40 76 65 72 73 69  |tringbhi.h@versi|
        00000090  6f 6e 61 31 6a 40 74 69 6d 65 73 74 61 6d 70 9f  |ona1j@timestamp.|
        000000a0  76 6f 72 67 2e 6c 6f 67 73 74 61 73 68 2e 54 69  |vorg.logstash.Ti|
        000000b0  6d 65 73 74 61 6d 70 78 18 32 30 32 35 2d 30 31  |mestampx.2025-01|
        000000c0  2d 30 32 54 30 33 3a 30 34 3a 30 35 2e 36 37 38  |-02T03:04:05.678|
        000000d0  5a ff ff ff 64 4d 45 54 41 9f d8 19 02 bf ff ff  |Z...dMETA.......|
        000000e0  ff ff 00 00 00 0d 65 6c 61 73 74 69 63 73 65 61  |......elasticsea|
        000000f0  72 63 68 00 00 00 06 65 73 5f 6f 75 74 00 00 00  |rch....es_out...|
        00000100  0a 73 74 61 74 75 73 20 34 30 30                 |.status 400|
        """

    static var tinySegment: [UInt8] { DLQTestSupport.bytes(hexdump: tinySegmentDump) }

    /// §5.5: the event alone (entry bytes 46 ..< 226 of the segment).
    static var tinyEvent: [UInt8] { Array(tinySegment[46..<226]) }

    /// The event of §3.3/§5.5, fields in its order.
    static func tinyEventValue() -> Event {
        DLQTestSupport.event([
            ("message", "hi"), ("@version", "1"),
            ("@timestamp", .timestamp(DLQTestSupport.timestamp("2025-01-02T03:04:05.678Z"))),
        ])
    }

    static let tinyEntryTime = DLQTestSupport.timestamp("2025-01-02T03:04:05.679Z")
}
