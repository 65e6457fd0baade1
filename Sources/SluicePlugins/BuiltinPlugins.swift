import SluiceCore

/// Every plugin Sluice ships, by kind and Logstash name (alphabetical). A test checks names are unique.
public let builtinPlugins: [PluginDescriptor] = [
    // Inputs
    .input(DeadLetterQueueInput.self),
    .input(GeneratorInput.self),
    .input(StdinInput.self),
    // Filters
    .filter(DropFilter.self),
    .filter(JsonFilter.self),
    .filter(MutateFilter.self),
    // Outputs
    .output(ElasticsearchOutput.self),
    .output(FileOutput.self),
    .output(HttpOutput.self),
    .output(NullOutput.self),
    .output(StdoutOutput.self),
    // Codecs
    .codec(DotsCodec.self),
    .codec(JsonCodec.self),
    .codec(JsonLinesCodec.self),
    .codec(LineCodec.self),
    .codec(PlainCodec.self),
    .codec(RubydebugCodec.self),
]

/// The registry of built-in plugins.
public let builtinRegistry = PluginRegistry(builtinPlugins)
