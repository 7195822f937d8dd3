import Foundation

/// A small JSON Schema (2020-12 subset) validator for our own schemas: type, const, enum,
/// anyOf, type lists, pattern, required, properties, additionalProperties (false), items, minItems/maxItems, minimum/maximum,
/// exclusiveMinimum/exclusiveMaximum, minLength, $ref to #/$defs/…. Unknown keywords are
/// rejected, so a schema cannot silently use something this validator ignores.
public struct SchemaValidator {
    let root: [String: Any]
    static let known: Set<String> = ["$schema", "$id", "title", "description", "type", "const", "enum", "required", "properties",
                                     "additionalProperties", "items", "minItems", "maxItems", "minimum", "maximum",
                                     "exclusiveMinimum", "exclusiveMaximum", "minLength", "$ref", "$defs", "anyOf", "pattern"]

    public init(schemaFile: URL) throws {
        root = try JSONSerialization.jsonObject(with: Data(contentsOf: schemaFile)) as! [String: Any]
    }

    /// Returns the list of violations (empty when valid).
    public func validate(_ json: Data) throws -> [String] {
        let value = try JSONSerialization.jsonObject(with: json, options: [.fragmentsAllowed])
        var errors: [String] = []
        check(value, root, "$", &errors)
        return errors
    }

    private func check(_ v: Any, _ s: [String: Any], _ path: String, _ errors: inout [String]) {
        for k in s.keys where !SchemaValidator.known.contains(k) { errors.append("schema uses unsupported keyword \(k)") }
        if let ref = s["$ref"] as? String {
            let name = ref.replacingOccurrences(of: "#/$defs/", with: "")
            guard let defs = root["$defs"] as? [String: Any], let sub = defs[name] as? [String: Any] else { errors.append("\(path): bad $ref \(ref)"); return }
            check(v, sub, path, &errors)
        }
        if let t = s["type"] as? String, !isType(v, t) { errors.append("\(path): expected \(t)"); return }
        if let ts = s["type"] as? [String], !ts.contains(where: { isType(v, $0) }) { errors.append("\(path): expected one of \(ts)"); return }
        if let alternatives = s["anyOf"] as? [[String: Any]] {
            let ok = alternatives.contains { alt in var e: [String] = []; check(v, alt, path, &e); return e.isEmpty }
            if !ok { errors.append("\(path): matches none of anyOf") }
        }
        if let p = s["pattern"] as? String, let str = v as? String, str.range(of: p, options: .regularExpression) == nil {
            errors.append("\(path): '\(str)' does not match \(p)")
        }
        if let c = s["const"], !equal(v, c) { errors.append("\(path): expected const \(c)") }
        if let e = s["enum"] as? [Any], !e.contains(where: { equal(v, $0) }) { errors.append("\(path): \(v) not in enum") }
        if let n = number(v) {
            if let m = s["minimum"].flatMap(number), n < m { errors.append("\(path): \(n) < minimum \(m)") }
            if let m = s["maximum"].flatMap(number), n > m { errors.append("\(path): \(n) > maximum \(m)") }
            if let m = s["exclusiveMinimum"].flatMap(number), n <= m { errors.append("\(path): \(n) <= exclusiveMinimum \(m)") }
            if let m = s["exclusiveMaximum"].flatMap(number), n >= m { errors.append("\(path): \(n) >= exclusiveMaximum \(m)") }
        }
        if let str = v as? String, let m = s["minLength"] as? Int, str.count < m { errors.append("\(path): shorter than \(m)") }
        if let obj = v as? [String: Any] {
            for r in s["required"] as? [String] ?? [] where obj[r] == nil { errors.append("\(path): missing \(r)") }
            let props = s["properties"] as? [String: Any] ?? [:]
            for (k, sub) in obj {
                if let ps = props[k] as? [String: Any] { check(sub, ps, "\(path).\(k)", &errors) }
                else if (s["additionalProperties"] as? Bool) == false { errors.append("\(path): unexpected property \(k)") }
                else if let ap = s["additionalProperties"] as? [String: Any] { check(sub, ap, "\(path).\(k)", &errors) }
            }
        }
        if let arr = v as? [Any] {
            if let m = s["minItems"] as? Int, arr.count < m { errors.append("\(path): fewer than \(m) items") }
            if let m = s["maxItems"] as? Int, arr.count > m { errors.append("\(path): more than \(m) items") }
            if let items = s["items"] as? [String: Any] { for (i, e) in arr.enumerated() { check(e, items, "\(path)[\(i)]", &errors) } }
        }
    }

    private func isType(_ v: Any, _ t: String) -> Bool {
        switch t {
        case "object": return v is [String: Any]
        case "array": return v is [Any]
        case "string": return v is String
        case "boolean": return isBool(v)
        case "integer": return number(v).map { $0 == $0.rounded() } ?? false
        case "number": return number(v) != nil
        case "null": return v is NSNull
        default: return false
        }
    }

    /// JSONSerialization gives booleans as a distinct NSNumber subclass (__NSCFBoolean on Linux).
    private func isBool(_ v: Any) -> Bool { String(describing: type(of: v)).contains("Boolean") }

    private func number(_ v: Any) -> Double? {
        guard let n = v as? NSNumber, !isBool(v) else { return nil }
        return n.doubleValue
    }

    private func equal(_ a: Any, _ b: Any) -> Bool {
        if let x = a as? String, let y = b as? String { return x == y }
        if let x = number(a), let y = number(b) { return x == y }
        return false
    }
}
