/// The Ruby side of Sluice's ruby filter, evaluated once when the interpreter starts (on the interpreter thread):
/// `LogStash::Event` and `LogStash::Timestamp` as Logstash's Ruby side exposes them, written on the C glue's
/// primitives (`__op`, `__build`); the object inline code runs on (`Sluice::Filter`) and the loader of `path`
/// scripts with their tests (`Sluice::Script`), after logstash-filter-ruby's; a log4j-like `logger`; the watchdog
/// thread behind the filter's `timeout`; and `Sluice.normalize`, which turns what a snippet stores into the kinds of
/// value Swift reads.
enum RubyPrelude {
    static let source = #"""
    require 'json'
    require 'time'

    module Sluice
      # Raised in a filter call that ran past the filter's `timeout` (by the watchdog thread below). An Exception,
      # not a StandardError, so that a snippet's `rescue => e` does not swallow it.
      class TimeoutError < Exception
      end

      # The watchdog: wakes every 20 ms while Ruby code runs and raises TimeoutError into a filter call that is
      # overdue (`Sluice.__watch`, in C). It needs the interpreter's lock to run, so it costs nothing while no
      # filter code runs.
      WATCHDOG = Thread.new do
        Thread.current.report_on_exception = false
        loop do
          sleep 0.02
          Sluice.__watch
        end
      end

      # Logstash's `logger` (log4j) as snippets call it: `logger.info("message", :key => value)`, `logger.debug?`.
      # Lines go to Sluice's log under the filter's pipeline and plugin id.
      class Logger
        LEVELS = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, fatal: 5 }.freeze
        def initialize(token)
          @token = token
        end
        LEVELS.each do |name, level|
          define_method(name) do |message = nil, data = nil, &block|
            message = block.call if message.nil? && block
            text = message.to_s
            text = "#{text} #{data.inspect}" if data.is_a?(Hash) && !data.empty?
            Sluice.__log(@token * 8 + level, text)
            nil
          end
          define_method(:"#{name}?") { Sluice.__log(@token * 8 + level, nil) }
        end
      end

      # The object a ruby filter's `init` and `code` run on (`self`), as the filter instance in Logstash: instance
      # variables set by `init` are seen by `code`. `__sluice_run` calls the compiled `filter_method` with a block
      # that collects the events `new_event_block.call` emits.
      class Filter
        def initialize(token)
          @logger = Logger.new(token)
          @__sluice_created = nil
          @__sluice_collect = proc do |new_event|
            raise TypeError, "new_event_block.call needs a LogStash::Event, got #{new_event.class}" unless new_event.is_a?(LogStash::Event)
            (@__sluice_created ||= []) << new_event
            nil
          end
        end
        attr_reader :logger

        def __sluice_run(event)
          @__sluice_created = nil
          filter_method(event, &@__sluice_collect)
          @__sluice_created
        end

        # The events emitted before an exception ended the call.
        def __sluice_take_created(_)
          created = @__sluice_created
          @__sluice_created = nil
          created
        end
      end

      # The object a `path` script is evaluated on (Logstash's ExecutionContext): the script's `def register`,
      # `def filter` and instance variables live here. `test` blocks are collected by the main context and ignored
      # by the contexts the tests themselves run in.
      class ScriptContext
        def initialize(name, logger, tests)
          @__name__ = name
          @__logger__ = logger
          @__tests__ = tests
        end

        def logger = @__logger__
        def register(params) = nil
        def to_s = "<ExecutionContext #{@__name__}>"

        def test(name, &block)
          @__tests__ << [name, block] if @__tests__
          nil
        end
      end

      # A `path` script, loaded as Logstash loads it: evaluated on a fresh context, its `test "…" do … end` blocks
      # run (each on a context of its own, with its `parameters`, `in_event` and `expect` blocks), then `register`
      # called with `script_params`. Each failed or raising expectation is one line of `failures`.
      class Script
        def initialize(options)
          @path = options["path"]
          @content = options["content"]
          @params = options["params"]
          @logger = Logger.new(options["token"])
          @tests = []
          begin
            @main = load_context(:main, @tests)
            raise "Script does not define a filter! Please ensure that you have defined a filter method!" unless @main.respond_to?(:filter)
          rescue Exception => e
            raise "Error during load of '#{@path}': #{e.inspect}"
          end
        end

        def load_context(name, tests)
          context = ScriptContext.new(name, @logger, tests)
          context.instance_eval(@content, @path, 1)
          context
        end

        def failures(_ = nil)
          @tests.flat_map { |name, block| ScriptTest.new(self, name, block).run }
        end

        def register(_ = nil)
          @main.register(@params)
        rescue Exception => e
          raise "Error during register of '#{@path}': #{e.inspect}"
        end

        # The events to pass on, or (Logstash checks the result after `filter_matched`) a String saying why the
        # result is not an Array of events.
        def __sluice_filter(event)
          results = @main.filter(event)
          Script.invalid_result(results) || results
        end

        def self.invalid_result(results)
          return "Custom script did not return an array from 'filter'. Only arrays may be returned!" unless results.is_a?(Array)
          bad = results.find { |result| !result.is_a?(LogStash::Event) }
          return nil unless bad || results.include?(nil)
          "Custom script returned a non event object '#{bad.inspect}'! You must an array of events from this function! To drop an event simply return nil."
        end
      end

      # One `test` block of a script (Logstash's TestContext and ExpectContext).
      class ScriptTest
        def initialize(script, name, block)
          @script = script
          @name = name
          @parameters = {}
          @expects = []
          @context = script.load_context("Test/#{name}", nil)
          instance_eval(&block)
        end

        def parameters(&block)
          return @parameters unless block
          @parameters = block.call
          raise ArgumentError, "Test parameters must be a hash in #{@name}!" unless @parameters.is_a?(Hash)
          @context.register(@parameters)
        end

        def in_event(&block)
          return @in_events unless block
          hashes = block.call
          hashes = [hashes] if hashes.is_a?(Hash)
          Array(hashes).each do |hash|
            next if hash.is_a?(Hash)
            raise ArgumentError, "In event for #{@name} must receive either a hash or an array of hashes! got a '#{hash.class}' in #{hashes.inspect}"
          end
          @in_events = Array(hashes).map { |hash| LogStash::Event.new(hash) }
        end
        alias in_events in_event

        def expect(name, &block)
          @expects << [name, block]
        end

        def run
          raise "You must declare an `in_event` to run tests! (test '#{@name}')" unless @in_events
          shown_in = @in_events.map(&:to_hash_with_metadata).inspect
          results = []
          @in_events.each do |event|
            single = @context.filter(event)
            problem = Script.invalid_result(single)
            raise problem if problem
            results += single
          end
          @expects.filter_map do |name, block|
            begin
              next nil if block.call(results)
              "***TEST FAILURE FOR: '#{@name} #{name}'*** in events: #{shown_in}, results: #{results.map(&:to_hash_with_metadata).inspect}"
            rescue Exception => e
              "***TEST RAISED ERROR: '#{@name} #{name}'*** #{e.inspect}"
            end
          end
        end
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

      def self.script(options) = Script.new(options)
    end

    module LogStash
      class Event
        # An event of its own (not bound to a filter call), as Logstash's `LogStash::Event.new(hash)`: `@timestamp`
        # now unless given, `@version` "1", `@metadata` from the hash's "@metadata".
        def self.new(hash = {})
          raise TypeError, "LogStash::Event.new needs a Hash, got #{hash.class}" unless hash.is_a?(Hash)
          __build(Sluice.normalize(hash))
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
        def clone = __op(11, nil, nil)
        alias dup clone
        def to_hash_with_metadata = __op(12, nil, nil)
        def to_json(*) = JSON.generate(to_hash)
        def to_s = "#{timestamp} #{sprintf('%{host}')} #{sprintf('%{message}')}"
        def inspect = "#<LogStash::Event #{to_hash.inspect}>"
      end

      # The helpers of Logstash's `LogStash::Util` that snippets call.
      module Util
        def self.deep_clone(value) = Marshal.load(Marshal.dump(value))
        def self.stringify_symbols(value)
          case value
          when Symbol then value.to_s
          when Array then value.map { |element| stringify_symbols(element) }
          when Hash then value.each_with_object({}) { |(key, element), hash| hash[stringify_symbols(key)] = stringify_symbols(element) }
          else value
          end
        end
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
