import SluiceCore

/// Every plugin Sluice ships, by kind and Logstash name (alphabetical). A test checks names are unique.
public let builtinPlugins: [PluginDescriptor] = [
    // Inputs
    .input(DeadLetterQueueInput.self),
    .input(GeneratorInput.self),
    .input(PipelineInput.self),
    .input(StdinInput.self),
    // Filters
    .filter(DateFilter.self),
    .filter(DropFilter.self),
    .filter(GrokFilter.self),
    .filter(JsonFilter.self),
    .filter(MutateFilter.self),
    // Outputs
    .output(FileOutput.self),
    .output(NullOutput.self),
    .output(PipelineOutput.self),
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
