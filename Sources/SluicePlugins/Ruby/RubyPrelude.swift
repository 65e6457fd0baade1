/// The Ruby side of Sluice's event API, evaluated once when the interpreter starts (on the interpreter thread):
/// `LogStash::Event` and `LogStash::Timestamp` as Logstash's Ruby side exposes them, written on the C glue's one
/// primitive (`__op`), plus `Sluice.normalize`, which turns what a snippet stores into the kinds of value Swift reads.
enum RubyPrelude {
    static let source = #"""
    require 'json'
    require 'time'

    module Sluice
      # The object a ruby filter's `init` and `code` run on (`self`), as the filter instance in Logstash: instance
      # variables set by `init` are seen by `code`.
      class Filter
      end

      # What a snippet stores, as the kinds of value an event holds: Symbols become Strings, hash keys Strings, a
      # Time a LogStash::Timestamp, strings in other encodings UTF-8; anything else is refused, as Logstash refuses
      # it ("Missing Converter").
      def self.normalize(value)
        case value
        when String
          enc = value.encoding
          if enc == Encoding::UTF_8 || enc == Encoding::BINARY || enc == Encoding::US_ASCII then value else value.encode(Encoding::UTF_8) end
        when Integer, Float, true, false, nil, LogStash::Timestamp then value
        when Symbol then value.to_s
        when Array then value.map { |element| normalize(element) }
        when Hash then value.each_with_object({}) { |(key, element), hash| hash[key.to_s] = normalize(element) }
        when Time then LogStash::Timestamp.new(value)
        when LogStash::Event then normalize(value.to_hash)
        else
          return value if defined?(::BigDecimal) && value.is_a?(::BigDecimal) && value.finite?
          raise TypeError, "cannot store a #{value.class} in an event (strings, numbers, booleans, nil, arrays, hashes and timestamps can be stored)"
        end
      end

      def self.reference(ref)
        raise TypeError, "a field reference must be a String, got #{ref.class}" unless ref.is_a?(String)
        ref
      end

      def self.big_decimal(text)
        require 'bigdecimal'
        BigDecimal(text)
      end
    end

    module LogStash
      class Event
        def initialize(*)
          raise NotImplementedError, "LogStash::Event.new is not supported by Sluice's ruby filter yet"
        end
        def get(ref) = __op(0, Sluice.reference(ref), nil)
        def set(ref, value) = __op(1, Sluice.reference(ref), Sluice.normalize(value))
        def remove(ref) = __op(2, Sluice.reference(ref), nil)
        def include?(ref) = __op(3, Sluice.reference(ref), nil)
        def tag(value) = __op(4, value.to_s, nil)
        def cancel = __op(5, nil, nil)
        def uncancel = __op(6, nil, nil)
        def cancelled? = __op(7, nil, nil)
        def to_hash = __op(8, nil, nil)
        def timestamp = __op(9, nil, nil)
        def timestamp=(value)
          set("@timestamp", value)
        end
        def sprintf(format) = __op(10, format.to_s, nil)
        def to_json(*) = JSON.generate(to_hash)
        def to_s = "#{timestamp} #{sprintf('%{host}')} #{sprintf('%{message}')}"
        def inspect = "#<LogStash::Event #{to_hash.inspect}>"
      end

      class Timestamp
        include Comparable
        def initialize(time = Time.now)
          time = time.time if time.is_a?(Timestamp)
          raise TypeError, "LogStash::Timestamp.new needs a Time, got #{time.class}" unless time.is_a?(Time)
          @sec = time.to_i
          @nsec = time.nsec
        end
        def self.now = new(Time.now)
        def self.at(*args) = new(Time.at(*args))
        def self.parse_iso8601(text) = new(Time.iso8601(text))
        def time = Time.at(@sec, @nsec, :nsec).utc
        def to_i = @sec
        def to_f = @sec + @nsec / 1_000_000_000.0
        def usec = @nsec / 1000
        def nsec = @nsec
        def to_s = Timestamp.__iso8601(@sec, @nsec)
        alias to_iso8601 to_s
        def inspect = to_s
        def to_json(*) = "\"#{to_s}\""
        def <=>(other) = other.is_a?(Timestamp) ? [@sec, @nsec] <=> [other.to_i, other.nsec] : nil
        def eql?(other) = other.is_a?(Timestamp) && (self <=> other) == 0
        def hash = [@sec, @nsec].hash
        def +(seconds) = Timestamp.new(time + seconds)
        def -(other) = other.is_a?(Timestamp) ? to_f - other.to_f : Timestamp.new(time - other)
      end
    end

    # A snippet must not end or re-signal the process: `exit` and `abort` raise SystemExit, which the filter catches
    # (tag); `exit!` would end the process at once, and a trap would take a signal from Sluice, so both raise.
    module Kernel
      private def exit!(*) = raise(SecurityError, "exit! is not allowed in a Sluice ruby filter")
      def self.exit!(*) = raise(SecurityError, "exit! is not allowed in a Sluice ruby filter")
      private def trap(*) = raise(SecurityError, "signal traps are not allowed in a Sluice ruby filter")
    end
    module Process
      def self.exit!(*) = raise(SecurityError, "exit! is not allowed in a Sluice ruby filter")
    end
    module Signal
      def self.trap(*) = raise(SecurityError, "signal traps are not allowed in a Sluice ruby filter")
    end
    """#
}
