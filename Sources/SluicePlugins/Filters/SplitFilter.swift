import SluiceCore

/// Splits one event into several (Logstash's `split` filter, 3.1.x): a string field by `terminator`, or a list
/// field element by element.
///
/// Each piece becomes a copy of the event with the piece in `target` (default: the field itself); empty string
/// pieces are skipped and the original event is cancelled. A string that does not split (one piece) leaves the
/// event alone. A field that is neither a string nor a list is tagged `_split_type_failure`.
public final class SplitFilter: Filter {
    public static let name = "split"
    public static let summary = "Splits a string or list field into one event per piece."

    public struct Settings: PluginSettings {
        @Setting("field", doc: "The field to split: a string (split by `terminator`) or a list (one event per element).")
        var field = FieldReference("message")
        @Setting("target", doc: "The field that receives each piece; defaults to `field`.")
        var target: FieldReference? = nil
        @Setting("terminator", doc: "The string that separates pieces of a string field.")
        var terminator = "\n"
        public init() {}
    }

    static let typeFailureTag = "_split_type_failure"

    let field: FieldReference
    let target: FieldReference
    let terminator: String
    let logger: Logger

    public static let canFail = true

    public init(settings: Settings, context: PluginContext) throws {
        field = settings.field
        target = settings.target ?? settings.field
        terminator = settings.terminator
        logger = context.logger
    }

    public func filter(_ batch: inout FilterBatch) {
        for (i, event) in batch.events.enumerated() {
            let original = event.get(field)
            let pieces: [Value]
            switch original {
            case .array(let a)?:
                pieces = a
            case .string(let s)?:
                let parts = SplitFilter.split(s, terminator)
                // One piece means nothing to split: the event goes on as it is, undecorated.
                if parts.count == 1 { continue }
                pieces = parts.map(Value.string)
            default:
                let type = original.map(Ruby.className) ?? "NilClass"
                logger.rateLimited(.warn, key: "type", "Only String and Array types are splittable. field:\(field.text) is of type = \(type)")
                event.tag(SplitFilter.typeFailureTag)
                batch.failed(i, reason: "split: field [\(field.text)] is a \(type), not a String or an Array")
                continue
            }
            for piece in pieces {
                // Logstash: `next if value.nil? || (value.is_a?(String) && value.empty?)`.
                if piece == .null { continue }
                if case .string(let s) = piece, s.isEmpty { continue }
                let copy = Event(copying: event)
                copy.set(target, piece)
                batch.emit(copy, from: i)
            }
            event.cancelled = true
        }
    }

    /// Ruby's `String#split(terminator, -1)`: trailing empty pieces are kept.
    static func split(_ s: String, _ terminator: String) -> [String] {
        Ruby.split(s, terminator, keepTrailingEmpty: true)
    }
}
