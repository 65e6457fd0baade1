/// What every declared setting exposes to the registry: its Logstash name, doc, type and default, and a way to
/// assign a config value to it. Implemented by `Setting`.
public protocol AnySetting: AnyObject {
    var name: String { get }
    var doc: String { get }
    var isRequired: Bool { get }
    /// Set when the setting is obsolete: using it is an error with this message.
    var obsoleteMessage: String? { get }
    var typeDescription: String { get }
    /// The default as it would be written in a config, or nil when there is none.
    var defaultDescription: String? { get }
    /// Whether a value was assigned from the config.
    var wasSet: Bool { get }
    /// Coerces and stores `value` (Logstash's coercion rules); throws a diagnostic on a type error.
    func assign(_ value: ConfigValue, _ context: CoercionContext) throws(Diagnostic)
}

/// Declares one plugin setting: its Logstash name, doc and default live in this one place.
///
/// ```swift
/// struct Settings: PluginSettings {
///     @Setting("tag_on_failure", doc: "Tags added when parsing fails.") var tagOnFailure = ["_jsonparsefailure"]
/// }
/// ```
/// The registry finds declared settings by reflecting a fresh `Settings()`; the type (`T: SettingValue`) decides the
/// coercion and the error message for a wrong value. A class, so reflection can assign through the reference.
@propertyWrapper
public final class Setting<T: SettingValue>: AnySetting, @unchecked Sendable {
    public var wrappedValue: T
    public let name: String
    public let doc: String
    public let isRequired: Bool
    public let obsoleteMessage: String?
    public private(set) var wasSet = false
    private let defaultValue: T

    public init(wrappedValue: T, _ name: String, doc: String, required: Bool = false, obsolete: String? = nil) {
        self.wrappedValue = wrappedValue
        self.defaultValue = wrappedValue
        self.name = name
        self.doc = doc
        self.isRequired = required
        self.obsoleteMessage = obsolete
    }

    public var typeDescription: String { T.typeDescription }
    public var defaultDescription: String? { isRequired ? nil : defaultValue.configDescription }

    public func assign(_ value: ConfigValue, _ context: CoercionContext) throws(Diagnostic) {
        wrappedValue = try T.coerce(value, context)
        wasSet = true
    }
}

/// Settings of one plugin: a struct of `@Setting` properties with a no-argument initialiser.
public protocol PluginSettings {
    init()
    /// Cross-setting rules, run after every setting was assigned. No I/O here.
    func validate() throws(SettingsValidationError)
}

extension PluginSettings {
    public func validate() throws(SettingsValidationError) {}

    /// The declared settings, in declaration order (a group's settings where the group is declared).
    public var declaredSettings: [AnySetting] { SettingsReflection.declared(in: self) }
}

/// A set of settings several plugins declare alike (the TLS settings of the tcp, beats and http inputs), embedded
/// as one stored property of a plugin's `Settings`; its `@Setting`s count as the plugin's own.
public protocol SettingsGroup {
    /// Cross-setting rules of the group, run with the plugin's own `validate`.
    func validate() throws(SettingsValidationError)
}

extension SettingsGroup {
    public func validate() throws(SettingsValidationError) {}
}

enum SettingsReflection {
    /// The `@Setting`s of `value`, descending into `SettingsGroup` properties.
    static func declared(in value: Any) -> [AnySetting] {
        Mirror(reflecting: value).children.flatMap { child -> [AnySetting] in
            if let setting = child.value as? AnySetting { return [setting] }
            if child.value is SettingsGroup { return declared(in: child.value) }
            return []
        }
    }

    /// The groups embedded in `value`, for their `validate`.
    static func groups(in value: Any) -> [SettingsGroup] {
        Mirror(reflecting: value).children.compactMap { $0.value as? SettingsGroup }
    }
}

/// A violated cross-setting rule; the message says what to change.
public struct SettingsValidationError: Error, Sendable {
    public let message: String
    /// The setting the message is about, for the error position.
    public let setting: String?
    public init(_ message: String, setting: String? = nil) {
        self.message = message
        self.setting = setting
    }
}

/// What coercion needs besides the value: where it is and how to substitute `${VAR}`.
public struct CoercionContext: Sendable {
    public let pluginName: String
    public let settingName: String
    public let substitution: Substitution

    public init(pluginName: String, settingName: String, substitution: Substitution) {
        self.pluginName = pluginName
        self.settingName = settingName
        self.substitution = substitution
    }

    /// A type error for this setting.
    public func typeError(_ value: ConfigValue, expected: String) -> Diagnostic {
        Diagnostic(
            code: "invalid_value", span: value.span,
            "invalid value for setting '\(settingName)' of '\(pluginName)': expected \(expected), got \(value.kindName)\(value.scalarText.map { " '\($0)'" } ?? "")"
        )
    }

    /// An error with a free-form message about this setting.
    public func error(_ value: ConfigValue, _ message: String, help: String? = nil) -> Diagnostic {
        Diagnostic(code: "invalid_value", span: value.span, "invalid value for setting '\(settingName)' of '\(pluginName)': \(message)", help: help)
    }

    /// The string of a scalar after `${VAR}` substitution.
    public func substituted(_ text: String, at value: ConfigValue) throws(Diagnostic) -> String {
        do {
            return try substitution.apply(text)
        } catch {
            throw Diagnostic(code: "undefined_variable", span: value.span, error.description)
        }
    }
}
