import ArgumentParser

@main
struct Portcullis: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portcullis",
        abstract: "A self-hosted secure device gateway for the Internet of Things, compatible with AWS IoT Core.",
        discussion: """
            Quick start:
              portcullis serve                       start the gateway (MQTT over mutual TLS on port 8883)
              portcullis device mint my-device       issue a device certificate signed by the local CA
            """,
        subcommands: [ServeCommand.self, DeviceCommand.self, ConfigCommand.self, BenchCommand.self],
        defaultSubcommand: nil
    )
}
