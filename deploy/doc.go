// Package deploy holds no code. It holds the deployment files (the Helm
// chart, the systemd unit, the Prometheus alert rules), and its tests check
// them: helm lint and helm template must accept the chart, and the rendered
// manifests must carry the workload identity, the probes and the hardened
// security context. The Helm library is built into a small command (chart)
// of the separate tools module in deploy/tools, so the main module does not
// depend on it.
//
// The package imports nothing; only its tests have code.
package deploy
