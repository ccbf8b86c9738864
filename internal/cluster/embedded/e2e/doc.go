// Package e2e tests embedded clusters end to end, the way a user runs
// them: every envctl command is a process of its own (the test binary,
// acting as envctl), the clusters run detached in serve processes that
// outlive the command that started them, and clients reach them through
// the kubeconfig context envctl wrote.
//
// The package has no code of its own, only tests and benchmarks: the
// provider they exercise is package embedded, the commands package cli.
// Each test gets its own state directory ($XDG_STATE_HOME), kubeconfig
// ($KUBECONFIG) and home, and kills any serve process it leaves behind.
package e2e
