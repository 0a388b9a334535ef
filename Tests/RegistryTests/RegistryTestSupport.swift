@testable import Registry

/// The AWS error an operation refused with, nil if it succeeded (or threw something else).
func refusal(_ body: () throws -> Void) -> RegistryError.Code? {
    do { try body() } catch let error as RegistryError { return error.code } catch { return nil }
    return nil
}
