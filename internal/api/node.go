package api

import "time"

// Node status values.
const (
	NodeReady    = "ready"    // the agent heartbeats and the node takes work
	NodeDraining = "draining" // the agent heartbeats; no new work is placed
	NodeDown     = "down"     // the node's liveness lease has expired
)

// Node is a machine running an agent, as the API shows it.
type Node struct {
	Name      string            `json:"name"`
	Status    string            `json:"status"`
	Drain     bool              `json:"drain"`
	Labels    map[string]string `json:"labels"`
	Facts     Facts             `json:"facts"`
	Resources NodeResources     `json:"resources"`
	JoinedAt  time.Time         `json:"joined_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	// LastSeen is the time of the last heartbeat this server knows of; other
	// servers may have seen later ones. Status is what tells liveness.
	LastSeen *time.Time `json:"last_seen,omitempty"`
	// CertExpires is when the node's current client certificate expires.
	CertExpires *time.Time `json:"cert_expires,omitempty"`
}

// Facts are what an agent finds out about its machine.
type Facts struct {
	Hostname      string   `json:"hostname"`
	IPv4          []string `json:"ipv4,omitempty"`
	IPv6          []string `json:"ipv6,omitempty"`
	PrivateIP     string   `json:"private_ip,omitempty"` // first private IPv4, else first IPv4
	OS            string   `json:"os"`                   // "linux"
	Platform      string   `json:"platform,omitempty"`   // "debian"
	PlatformVer   string   `json:"platform_version,omitempty"`
	Kernel        string   `json:"kernel,omitempty"`
	Arch          string   `json:"arch,omitempty"`
	CPUs          int      `json:"cpus"`
	MemoryBytes   uint64   `json:"memory_bytes"`
	Disks         []Disk   `json:"disks,omitempty"`
	CorralVersion string   `json:"corral_version"`
}

// Disk is one mounted filesystem.
type Disk struct {
	Mount      string `json:"mount"`
	Device     string `json:"device,omitempty"`
	FSType     string `json:"fstype,omitempty"`
	TotalBytes uint64 `json:"total_bytes"`
	FreeBytes  uint64 `json:"free_bytes"`
}

// NodeResources is what the scheduler may place on a node.
type NodeResources struct {
	CPUs     float64 `json:"cpus"`
	MemMB    int64   `json:"mem_mb"`
	DiskMB   int64   `json:"disk_mb"`
	PortFrom int     `json:"port_from"`
	PortTo   int     `json:"port_to"`
}

// LabelRequest changes a node's labels: Set adds or replaces, Remove deletes.
type LabelRequest struct {
	Set    map[string]string `json:"set,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// DrainRequest turns draining on or off.
type DrainRequest struct {
	Drain bool `json:"drain"`
}
