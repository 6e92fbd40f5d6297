package httpdrain_test

// idleClientEnv, when set, makes the test binary run as the client side of
// the idle-connection benchmark (see runIdleClient).
const idleClientEnv = "HTTPDRAIN_IDLE_CLIENT"

func runIdleClient() int { return 0 }
