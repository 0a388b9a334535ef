import ArgumentParser
import PortcullisServer

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Inspect the configuration.",
        subcommands: [PrintDefault.self, Check.self]
    )

    struct PrintDefault: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "print-default", abstract: "Print every configuration key with its default, as JSON.")
        func run() async throws {
            print(PortcullisConfiguration().jsonDocument())
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check", abstract: "Validate a configuration file (and the environment) and print the result.")
        @Option(name: .long, help: "JSON configuration file.")
        var config: String?

        func run() async throws {
            do {
                let configuration = try ConfigurationLoader.load(file: config)
                try configuration.validate()
                print(configuration.jsonDocument())
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }
}
