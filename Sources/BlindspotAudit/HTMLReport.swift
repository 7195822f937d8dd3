import Foundation

/// The self-contained HTML report (issue 7). Placeholder until the writer lands.
public enum HTMLReport {
    public static func render(_ r: AuditReport) -> String {
        "<!doctype html><meta charset=utf-8><title>blindspot audit</title><pre>\(r.overall.line)</pre>"
    }
}
