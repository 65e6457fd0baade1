import SluiceCore

/// Every plugin Sluice ships, by kind and Logstash name (alphabetical). A test checks names are unique.
public let builtinPlugins: [PluginDescriptor] = [
    // Inputs
    .input(DeadLetterQueueInput.self),
    .input(BeatsInput.self),
    .input(FileInput.self),
    .input(GeneratorInput.self),
    .input(HttpInput.self),
    .input(KafkaInput.self),
    .input(PipelineInput.self),
    .input(RedisInput.self),
    .input(StdinInput.self),
    .input(SyslogInput.self),
    .input(TcpInput.self),
    .input(UdpInput.self),
    // Filters
    .filter(CidrFilter.self),
    .filter(CloneFilter.self),
    .filter(CsvFilter.self),
    .filter(DateFilter.self),
    .filter(DeDotFilter.self),
    .filter(DissectFilter.self),
    .filter(DropFilter.self),
    .filter(FingerprintFilter.self),
    .filter(GeoipFilter.self),
    .filter(GrokFilter.self),
    .filter(JsonFilter.self),
    .filter(KvFilter.self),
    .filter(MutateFilter.self),
    .filter(PruneFilter.self),
    .filter(RubyFilter.self),
    .filter(SplitFilter.self),
    .filter(TranslateFilter.self),
    .filter(TruncateFilter.self),
    .filter(UrldecodeFilter.self),
    .filter(UseragentFilter.self),
    .filter(UuidFilter.self),
    // Outputs
    .output(ElasticsearchOutput.self),
    .output(FileOutput.self),
    .output(HttpOutput.self),
    .output(KafkaOutput.self),
    .output(NullOutput.self),
    .output(PipelineOutput.self),
    .output(RedisOutput.self),
    .output(StdoutOutput.self),
    .output(TcpOutput.self),
    .output(UdpOutput.self),
    // Codecs
    .codec(DotsCodec.self),
    .codec(JsonCodec.self),
    .codec(JsonLinesCodec.self),
    .codec(LineCodec.self),
    .codec(MultilineCodec.self),
    .codec(PlainCodec.self),
    .codec(RubydebugCodec.self),
]

/// The registry of built-in plugins.
public let builtinRegistry = PluginRegistry(builtinPlugins)
