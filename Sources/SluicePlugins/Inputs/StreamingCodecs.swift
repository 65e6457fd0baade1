import SluiceCore

/// Logstash's `fix_streaming_codecs`: inputs that read a byte stream (stdin, tcp) replace `plain` with `line` and
/// `json` with `json_lines`, so that one event is one line. Called once per input or connection, when its codec is
/// made.
enum StreamingCodecs {
    /// `codec`, or its line-oriented counterpart; the codec's `charset` carries over.
    static func lineOriented(_ codec: any Codec, _ context: PluginContext) throws -> any Codec {
        if let plain = codec as? PlainCodec {
            var settings = LineCodec.Settings()
            settings.charset = plain.charset
            return try LineCodec(settings: settings, context: context)
        }
        if let json = codec as? JsonCodec {
            var settings = JsonLinesCodec.Settings()
            settings.charset = json.charset
            return try JsonLinesCodec(settings: settings, context: context)
        }
        return codec
    }
}
