#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// Start-up work done once, before the first batch: reach a node (`GET /`, for the version) and install the
/// index template when `manage_template` is on. Workers wait for it, as Logstash's batches wait for
/// `after_successful_connection`; shutdown ends the wait.
extension ElasticsearchOutput {
    func bootstrapIfNeeded() {
        bootstrapLock.withLock {
            guard !bootstrapped else { return }
            var interval = policy.initialInterval
            while !shouldStop {
                if let host = hostPool.pick(), let major = serverMajorVersion(host) {
                    if manageTemplate { installTemplate(host, major: major) }
                    bootstrapped = true
                    return
                }
                logger.rateLimited(.warn, key: "bootstrap",
                    "Waiting for connectivity to Elasticsearch cluster, retrying in \(interval)s")
                if !RetryPolicy.sleep(interval, shouldStop: { shouldStop }) { return }
                interval = policy.next(after: interval)
            }
        }
    }

    /// The major version a node reports on `GET /`, or nil when it cannot be reached.
    private func serverMajorVersion(_ host: ElasticsearchHost) -> Int? {
        do {
            let response = try transport.send(.GET, url: host.url("/"), headers: baseHeaders, body: nil)
            guard (200..<300).contains(response.status) else { return nil }
            if case .object(let root) = try JSONParser.parse(response.body), case .object(let v)? = root["version"],
                let number = v["number"]?.stringValue, let major = Int(number.prefix { $0 != "." })
            {
                return major
            }
            return 8
        } catch let error as HTTPTransport.Failure {
            if case .other = error {} else { hostPool.markDead(host, error: error.description) }
            return nil
        } catch {
            return 8
        }
    }

    /// Logstash's `TemplateManager.install_template`: skipped when a template of that name exists (unless
    /// `template_overwrite`); a failure is logged and indexing goes on.
    private func installTemplate(_ host: ElasticsearchHost, major: Int) {
        let composable = settings.templateAPI == .composable || (settings.templateAPI == .auto && major >= 8)
        let endpoint = (composable ? "/_index_template/" : "/_template/") + templateName
        do {
            if !settings.templateOverwrite {
                let head = try transport.send(.HEAD, url: host.url(endpoint), headers: baseHeaders, body: nil)
                if (200..<300).contains(head.status) {
                    logger.debug("Found existing Elasticsearch template, skipping template management {:name=>\"\(templateName)\"}")
                    return
                }
            }
            let body: [UInt8]
            if let path = settings.template {
                guard let bytes = FileContents.read(path) else {
                    logger.error("Failed to install template {:message=>\"cannot read template file \(path)\"}")
                    return
                }
                body = bytes
            } else {
                body = Array(Self.defaultTemplate(pattern: templatePattern, composable: composable).utf8)
            }
            logger.info("Installing Elasticsearch template {:name=>\"\(templateName)\"}")
            let put = try transport.send(.PUT, url: host.url(endpoint), headers: baseHeaders, body: body)
            if !(200..<300).contains(put.status) {
                logger.error("Failed to install template {:code=>\(put.status), :body=>\(Ruby.inspect(string: put.bodyText))}")
            }
        } catch {
            logger.error("Failed to install template {:message=>\(Ruby.inspect(string: error.description))}")
        }
    }

    /// The built-in template: Logstash's defaults for strings (text plus a `keyword` sub-field), `@timestamp`,
    /// `@version` and geoip, applied to `<index prefix>*`.
    static func defaultTemplate(pattern: String, composable: Bool) -> String {
        let mappings = #"""
            {"dynamic_templates":[{"message_field":{"path_match":"message","match_mapping_type":"string","mapping":{"type":"text","norms":false}}},{"string_fields":{"match":"*","match_mapping_type":"string","mapping":{"type":"text","norms":false,"fields":{"keyword":{"type":"keyword","ignore_above":256}}}}}],"properties":{"@timestamp":{"type":"date"},"@version":{"type":"keyword"},"geoip":{"dynamic":true,"properties":{"ip":{"type":"ip"},"location":{"type":"geo_point"},"latitude":{"type":"half_float"},"longitude":{"type":"half_float"}}}}}
            """#
        let settings = #"{"index.refresh_interval":"5s","number_of_shards":1}"#
        let patterns = JSONWriter.string(.array([.string(pattern)]))
        if composable {
            return #"{"index_patterns":\#(patterns),"version":80001,"priority":200,"template":{"settings":\#(settings),"mappings":\#(mappings)}}"#
        }
        return #"{"index_patterns":\#(patterns),"version":80001,"order":0,"settings":\#(settings),"mappings":\#(mappings)}"#
    }
}

/// Reads a whole small file (a template), or nil.
enum FileContents {
    static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n > 0 { out.append(contentsOf: buffer[0..<n]) }
            if n < buffer.count { break }
        }
        return out
    }
}
