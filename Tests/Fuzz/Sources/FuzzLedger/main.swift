import Findings
import Foundation

/// A ledger file, through `Ledger.load`, as `--ledger FILE` reads it.
let path = NSTemporaryDirectory() + "/fuzz-ledger-\(getpid()).json"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    FileManager.default.createFile(atPath: path, contents: Data(bytes: bytes, count: count))
    _ = try? Ledger.load(URL(fileURLWithPath: path))
    return 0
}
