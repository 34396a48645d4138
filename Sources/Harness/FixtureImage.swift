import Foundation

/// The fixture guest built by `Images/fixture/build.sh`: kernel, initramfs and the
/// read-only base disk every node overlays. Read from the manifest the build writes.
public struct FixtureImage: Codable, Sendable {
    public let name: String
    public let key: String
    public let kernel: String
    public let initrd: String
    public let baseDisk: String
    public let kernelVersion: String
    public let memoryMiB: Int

    public static func load(from state: StateDirectory) throws -> FixtureImage {
        let manifest = state.images.appendingPathComponent("fixture.json")
        guard let data = try? Data(contentsOf: manifest) else {
            throw HarnessError(.environment, "the fixture guest image is not built (no \(manifest.path)): run `Images/setup.sh`, or `Images/fixture/build.sh` if the host is already set up")
        }
        let image: FixtureImage
        do { image = try JSONDecoder().decode(FixtureImage.self, from: data) } catch {
            throw HarnessError(.environment, "\(manifest.path) is malformed: rebuild with `Images/fixture/build.sh`", cause: error)
        }
        for path in [image.kernel, image.initrd, image.baseDisk] where !FileManager.default.isReadableFile(atPath: path) {
            throw HarnessError(.environment, "fixture image file \(path) is missing: rebuild with `Images/fixture/build.sh`")
        }
        return image
    }
}
