// Built-in plugins are registered in BuiltinPlugins.swift.
