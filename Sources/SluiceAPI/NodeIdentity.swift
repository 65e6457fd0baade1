import SluiceCore

#if canImport(Glibc)
import Glibc
#endif

/// The node's persistent id, kept in `<path.data>/uuid` as Logstash does.
public enum NodeIdentity {
    /// Reads `<path.data>/uuid`, creating it with a new UUID when missing; a random id when it cannot be written.
    public static func persistentID(dataPath: String) -> String {
        let path = dataPath + "/uuid"
        if let text = ProcessInfoReader.read(path)?.trimmingSpaces().split(separator: "\n").first, text.count >= 32 {
            return String(text)
        }
        let id = randomUUID()
        mkdir(dataPath, 0o755)
        if let f = fopen(path, "w") {
            fputs(id, f)
            fclose(f)
        }
        return id
    }
}
