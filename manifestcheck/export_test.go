package manifestcheck

// ConfiguredForTest is configured, for the tests of package
// manifestcheck_test.
var ConfiguredForTest = configured
