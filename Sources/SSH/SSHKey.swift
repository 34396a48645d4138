import CLibSSH
import Foundation

/// An ed25519 key pair held by libssh. Owns its `ssh_key` and frees it in `deinit`.
/// Immutable after init, so it is shared across sessions.
public final class SSHKey: @unchecked Sendable {
    let pointer: OpaquePointer

    private init(pointer: OpaquePointer) { self.pointer = pointer }
    deinit { ssh_key_free(pointer) }

    /// A fresh ed25519 key, as every run makes its own.
    public static func generateEd25519() throws -> SSHKey {
        var key: OpaquePointer?
        guard ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) == SSH_OK, let key else {
            throw SSHError(.key, message: "ssh_pki_generate failed", operation: "generate ed25519 key")
        }
        return SSHKey(pointer: key)
    }

    /// Loads a private key written by `write(privateKeyTo:)`.
    public static func load(privateKeyAt path: String) throws -> SSHKey {
        var key: OpaquePointer?
        guard ssh_pki_import_privkey_file(path, nil, nil, nil, &key) == SSH_OK, let key else {
            throw SSHError(.key, message: "cannot read a private key from \(path)", operation: "load key")
        }
        return SSHKey(pointer: key)
    }

    /// Writes the private key (OpenSSH format, mode 0600) so `ssh -i` and a later
    /// `harness ssh` can use it.
    public func write(privateKeyTo path: String) throws {
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
        guard fd >= 0 else {
            throw SSHError(.key, message: String(cString: strerror(errno)), operation: "create \(path)")
        }
        close(fd)
        guard ssh_pki_export_privkey_file(pointer, nil, nil, nil, path) == SSH_OK else {
            throw SSHError(.key, message: "ssh_pki_export_privkey_file failed", operation: "write \(path)")
        }
    }

    /// The public key's base64 blob (the middle field of an authorized_keys line).
    public func publicKeyBase64() throws -> String {
        try Self.base64(of: pointer)
    }

    public func authorizedKeysLine(comment: String = "photoncloud-harness") throws -> String {
        "ssh-ed25519 \(try publicKeyBase64()) \(comment)"
    }

    static func base64(of key: OpaquePointer) throws -> String {
        var b64: UnsafeMutablePointer<CChar>?
        guard ssh_pki_export_pubkey_base64(key, &b64) == SSH_OK, let b64 else {
            throw SSHError(.key, message: "ssh_pki_export_pubkey_base64 failed", operation: "export public key")
        }
        defer { ssh_string_free_char(b64) }
        return String(cString: b64)
    }
}
