import Foundation
import Linearizability

/// history.edn, read whole and as a stream in windows of any size; what parses is
/// also checked (briefly) against both models, so the checker meets odd histories too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let data = Data(bytes: bytes, count: count)
    let text = String(decoding: data, as: UTF8.self)
    let whole = try? History.parse(text)
    let reader = EDNStreamReader(bytes: data, chunkSize: 1 + Int(count > 0 ? bytes[0] % 16 : 0))
    var streamed: [EDNValue] = []
    while let form = try? reader.next() { streamed.append(form.value) }
    if let whole, whole.operations.count <= 40 {
        for model in ModelName.allCases {
            switch model {
            case .casRegister: _ = try? LinearizabilityChecker(model: CASRegister(), timeLimit: 1).checkNow(whole)
            case .kv: _ = try? LinearizabilityChecker(model: KV(), timeLimit: 1).checkNow(whole)
            }
        }
        // What it writes, it reads back the same.
        if let again = try? History.parse(whole.edn()), again.events.map(\.edn) != whole.events.map(\.edn) {
            fatalError("history.edn did not read back the same:\n\(whole.edn())")
        }
    }
    return 0
}
