// Package marathon speaks Marathon's /v2 REST JSON for Corral's apps, so that
// Marathon clients and deploy scripts work unchanged. It is pure: it converts
// between Marathon's app JSON and api.AppSpec (FromMarathon, ToMarathon) and
// defines Marathon's response shapes (App, Task, Deployment, InfoResponse,
// Error). The server's HTTP handlers for /v2/... import it; it imports only
// corral/internal/api and the standard library.
//
// # Supported app fields
//
// id, cmd, args, user, instances, cpus, mem, disk (MiB, rounded up), env
// (string values only), labels, constraints, container {type DOCKER or
// MESOS, docker {image, network HOST|BRIDGE, portMappings}, portMappings,
// volumes [{containerPath, hostPath, mode}]}, networks [{mode host or
// container/bridge}], portDefinitions [{port, name, protocol}] and the older
// ports [int], requirePorts, healthChecks [{protocol HTTP|HTTPS|TCP|COMMAND
// (MESOS_HTTP, MESOS_HTTPS, MESOS_TCP read as HTTP, HTTPS, TCP), path,
// portIndex, port, command {value}, gracePeriodSeconds, intervalSeconds,
// timeoutSeconds, maxConsecutiveFailures}], upgradeStrategy
// {minimumHealthCapacity, maximumOverCapacity}, backoffSeconds,
// backoffFactor, maxLaunchDelaySeconds, taskKillGracePeriodSeconds,
// dependencies, fetch [{uri, executable, extract, cache}] and the older uris.
//
// Ports follow Marathon: with requirePorts true a non-zero portDefinitions
// port is the fixed host port; with requirePorts false it is a service port,
// which Corral does not have (discovery is by DNS name), so the app gets a
// dynamic host port. In BRIDGE mode a non-zero hostPort is fixed and
// servicePort is ignored. ToMarathon writes fixed ports with requirePorts
// true, so a GET-then-PUT round trip keeps them.
//
// # Ignored fields
//
// A field whose value is null is treated as absent. These fields are
// accepted and ignored, so that the JSON of a GET can be PUT back:
// version, versionInfo, tasksRunning, tasksStaged, tasksHealthy,
// tasksUnhealthy, deployments, tasks, lastTaskFailure, taskStats,
// readinessCheckResults, unreachableStrategy (Corral replaces the tasks of
// down nodes its own way), delaySeconds and ignoreHttp1xx of health checks,
// servicePort of port mappings, and cache of fetch. These are accepted only
// with their harmless default values: executor "" or "//cmd", killSelection
// "YOUNGEST_FIRST" (Corral always stops the newest first),
// acceptedResourceRoles [] or ["*"], role "*", gpus 0, storeUrls [],
// secrets {}, readinessChecks [], labels {} of port definitions and port
// mappings, and in container.docker privileged false, forcePullImage false,
// parameters []. Every other field (ipAddress, residency, pullConfig, a
// volume's persistent or external, a fetch's outputFile, ...), or one of
// these with another value, is rejected by name:
// `unsupported field "residency"`, `unsupported field "executor": only "" or
// "//cmd" is supported`. Env values must be strings (no secret references);
// a health check's maxConsecutiveFailures of 0 (never kill) is rejected.
package marathon
