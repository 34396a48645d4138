import Blocking
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One keep-alive HTTP/1.1 connection to 127.0.0.1:port over a POSIX socket: the only
/// owner of its descriptor, closed on any error and when released. Every wait is a
/// `poll` with the request's deadline. FoundationNetworking's URLSession is not used:
/// under faults (a reset mid-response) it traps ("Transfer completed, but there's no
/// response"), which would end the harness.
final class HTTPConnection: @unchecked Sendable {
    enum Failure: Error {
        /// The connection could not be made: the request was never sent.
        case connect(String)
        /// Sent, or partly: the server may have acted on it.
        case exchange(String)
    }

    private var fd: Int32 = -1
    let port: Int

    init(port: Int) { self.port = port }

    deinit { close() }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Waits for `events` on the socket until `deadline`; false on time-out.
    private func wait(_ events: Int16, until deadline: Double) -> Bool {
        while true {
            let left = Int32(max(0, (deadline - Self.now()) * 1000))
            var p = pollfd(fd: fd, events: events, revents: 0)
            let r = poll(&p, 1, left)
            if r > 0 { return true }
            if r == 0 { return false }
            if errno != EINTR { return false }
        }
    }

    private func connect(deadline: Double) throws(Failure) {
        fd = socket(
            AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .connect("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if r != 0 && errno != EINPROGRESS {
            let why = String(cString: strerror(errno))
            close()
            throw .connect("connect 127.0.0.1:\(port): \(why)")
        }
        guard wait(Int16(POLLOUT), until: deadline) else {
            close()
            throw .connect("connect 127.0.0.1:\(port): timed out")
        }
        var error: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
        if error != 0 {
            close()
            throw .connect("connect 127.0.0.1:\(port): \(String(cString: strerror(error)))")
        }
    }

    /// POSTs `body` to `path`; the status and the response body. A connection the server
    /// closed while idle is reopened once before anything is sent.
    func post(_ path: String, body: Data, timeout: Double) throws(Failure) -> (status: Int, body: Data) {
        let deadline = Self.now() + timeout
        if fd < 0 { try connect(deadline: deadline) }
        let head =
            "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.count)\r\n\r\n"
        var request = Data(head.utf8)
        request.append(body)
        do {
            try send(request, until: deadline)
            return try receive(until: deadline)
        } catch {
            close()
            throw error
        }
    }

    private func send(_ data: Data, until deadline: Double) throws(Failure) {
        var sent = 0
        while sent < data.count {
            let n = data.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + sent, data.count - sent, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                sent += n
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EINTR) {
                guard wait(Int16(POLLOUT), until: deadline) else { throw .exchange("sending: timed out") }
                continue
            }
            throw .exchange("sending: \(String(cString: strerror(errno)))")
        }
    }

    private var buffer = [UInt8]()

    /// Reads until `count` bytes are buffered; false at end of stream.
    private func fill(_ count: Int, until deadline: Double) throws(Failure) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while buffer.count < count {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n > 0 {
                buffer.append(contentsOf: chunk[..<n])
            } else if n == 0 {
                return false
            } else if errno == EAGAIN || errno == EINTR {
                guard wait(Int16(POLLIN), until: deadline) else {
                    throw .exchange("waiting for the response: timed out")
                }
            } else {
                throw .exchange("receiving: \(String(cString: strerror(errno)))")
            }
        }
        return true
    }

    /// Reads a line ending in CRLF (without it).
    private func line(until deadline: Double) throws(Failure) -> String {
        while true {
            if let i = buffer.firstIndex(of: 0x0A) {
                let text = String(decoding: buffer[..<i], as: UTF8.self)
                buffer.removeFirst(i + 1)
                return text.hasSuffix("\r") ? String(text.dropLast()) : text
            }
            guard try fill(buffer.count + 1, until: deadline) else {
                throw .exchange("the server closed the connection")
            }
        }
    }

    private func take(_ count: Int, until deadline: Double) throws(Failure) -> [UInt8] {
        guard try fill(count, until: deadline) else { throw .exchange("the server closed the connection mid-body") }
        let bytes = Array(buffer[..<count])
        buffer.removeFirst(count)
        return bytes
    }

    private func receive(until deadline: Double) throws(Failure) -> (status: Int, body: Data) {
        buffer.removeAll(keepingCapacity: true)
        let statusLine = try line(until: deadline)
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw .exchange("not an HTTP response: \(statusLine.prefix(100))")
        }
        var length: Int?
        var chunked = false, closes = false
        while true {
            let header = try line(until: deadline)
            if header.isEmpty { break }
            let kv = header.split(separator: ":", maxSplits: 1)
            guard kv.count == 2 else { continue }
            let name = kv[0].lowercased(), value = kv[1].trimmingCharacters(in: .whitespaces).lowercased()
            if name == "content-length" { length = Int(value) }
            if name == "transfer-encoding" && value.contains("chunked") { chunked = true }
            if name == "connection" && value == "close" { closes = true }
        }
        var body = [UInt8]()
        if chunked {
            while true {
                let sizeLine = try line(until: deadline)
                guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else {
                    throw .exchange("bad chunk size `\(sizeLine.prefix(20))`")
                }
                if size == 0 {
                    _ = try line(until: deadline)
                    break
                }
                body += try take(size, until: deadline)
                _ = try line(until: deadline)
            }
        } else if let length {
            body = try take(length, until: deadline)
        } else {
            while try fill(buffer.count + 1, until: deadline) {}
            body = buffer
            buffer.removeAll()
            closes = true
        }
        if closes { close() }
        return (status, Data(body))
    }
}

/// Idle connections to one port, reused by later requests.
final class HTTPConnectionPool: @unchecked Sendable {
    let port: Int
    private let lock = NSLock()
    private var idle: [HTTPConnection] = []

    init(port: Int) { self.port = port }

    /// Runs the exchange on a Dispatch thread (the socket calls block, bounded by poll).
    func post(_ path: String, body: Data, timeout: Double) async throws -> (status: Int, body: Data) {
        try await runBlocking { [self] in
            let connection = take() ?? HTTPConnection(port: port)
            let reply = try connection.post(path, body: body, timeout: timeout)
            give(connection)
            return reply
        }
    }

    private func take() -> HTTPConnection? {
        lock.lock()
        defer { lock.unlock() }
        return idle.popLast()
    }

    private func give(_ connection: HTTPConnection) {
        lock.lock()
        if idle.count < 64 { idle.append(connection) }
        lock.unlock()
    }
}
