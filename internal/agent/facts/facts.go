// Package facts finds out what an agent knows of its machine: host name,
// addresses, OS, CPUs, memory and filesystems (api.Facts), and from those the
// resources the scheduler may place on the node (api.NodeResources). The
// agent sends them in its hello. It reads the machine through gopsutil and
// the standard library; the choices made from what it reads are pure
// functions, tested on their own.
package facts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"

	"corral/internal/api"
)

// Collect gathers the facts of this machine; version is Corral's own.
//
// The host name, CPU count and memory are required: without them Collect
// fails. Everything else is best effort: Collect fills what it can and
// returns the Facts together with an error joining what it could not find
// out, so a caller may log that error and still use the Facts.
func Collect(ctx context.Context, version string) (api.Facts, error) {
	f := api.Facts{CorralVersion: version, OS: runtime.GOOS, Arch: runtime.GOARCH}
	var err error
	if f.Hostname, err = os.Hostname(); err != nil {
		return api.Facts{}, fmt.Errorf("collect facts: hostname: %w", err)
	}
	if f.CPUs, err = cpu.CountsWithContext(ctx, true); err != nil || f.CPUs < 1 {
		return api.Facts{}, fmt.Errorf("collect facts: cpu count %d: %w", f.CPUs, err)
	}
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return api.Facts{}, fmt.Errorf("collect facts: memory: %w", err)
	}
	f.MemoryBytes = vm.Total

	var errs []error
	if err := collectHost(ctx, &f); err != nil {
		errs = append(errs, err)
	}
	if f.Disks, err = collectDisks(ctx); err != nil {
		errs = append(errs, err)
	}
	if f.IPv4, f.IPv6, err = collectAddrs(); err != nil {
		errs = append(errs, err)
	}
	f.PrivateIP = PrivateIP(f.IPv4)
	if err := errors.Join(errs...); err != nil {
		return f, fmt.Errorf("collect facts: %w", err)
	}
	return f, nil
}

// collectHost fills the OS, platform, kernel and architecture. host.Info
// fails as a whole when any of its parts (uptime, virtualization, ...) does,
// so on error the parts Facts need are asked for one by one.
func collectHost(ctx context.Context, f *api.Facts) error {
	if hi, err := host.InfoWithContext(ctx); err == nil {
		setHost(f, hi.OS, hi.Platform, hi.PlatformVersion, hi.KernelVersion, hi.KernelArch)
		return nil
	}
	var errs []error
	platform, _, platformVer, err := host.PlatformInformationWithContext(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("platform: %w", err))
	}
	kernel, err := host.KernelVersionWithContext(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("kernel version: %w", err))
	}
	arch, err := host.KernelArch()
	if err != nil {
		errs = append(errs, fmt.Errorf("kernel arch: %w", err))
	}
	setHost(f, runtime.GOOS, platform, platformVer, kernel, arch)
	return errors.Join(errs...)
}

func setHost(f *api.Facts, os, platform, platformVer, kernel, arch string) {
	if os != "" {
		f.OS = os
	}
	f.Platform, f.PlatformVer, f.Kernel = platform, platformVer, kernel
	if arch != "" {
		f.Arch = arch // as uname -m says: "x86_64", "aarch64"
	}
}

// collectDisks lists the real filesystems with their sizes.
func collectDisks(ctx context.Context) ([]api.Disk, error) {
	parts, err := disk.PartitionsWithContext(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("partitions: %w", err)
	}
	var out []api.Disk
	var errs []error
	for _, p := range RealPartitions(parts) {
		u, err := disk.UsageWithContext(ctx, p.Mountpoint)
		if err != nil {
			errs = append(errs, fmt.Errorf("usage of %s: %w", p.Mountpoint, err))
			continue
		}
		if u.Total == 0 {
			continue
		}
		out = append(out, api.Disk{Mount: p.Mountpoint, Device: p.Device, FSType: p.Fstype,
			TotalBytes: u.Total, FreeBytes: u.Free})
	}
	return out, errors.Join(errs...)
}

// pseudoFS (read-only) are filesystem types that hold no user data on a disk of the
// machine: kernel interfaces, memory-backed and container layers.
var pseudoFS = map[string]bool{
	"tmpfs": true, "devtmpfs": true, "ramfs": true, "overlay": true, "aufs": true,
	"proc": true, "sysfs": true, "devpts": true, "cgroup": true, "cgroup2": true,
	"mqueue": true, "debugfs": true, "tracefs": true, "securityfs": true,
	"pstore": true, "bpf": true, "autofs": true, "configfs": true, "fusectl": true,
	"hugetlbfs": true, "binfmt_misc": true, "nsfs": true, "rpc_pipefs": true,
	"nfsd": true, "efivarfs": true, "selinuxfs": true, "squashfs": true,
	"fuse.lxcfs": true, "fuse.gvfsd-fuse": true, "fuse.portal": true, "shm": true,
	"iso9660": true, "none": true,
}

// RealPartitions keeps the partitions that are real filesystems, the first
// mount of each device only (bind mounts and btrfs subvolumes repeat it).
func RealPartitions(parts []disk.PartitionStat) []disk.PartitionStat {
	var out []disk.PartitionStat
	seen := map[string]bool{}
	for _, p := range parts {
		if pseudoFS[p.Fstype] || p.Device == "" || p.Device == "none" || seen[p.Device] {
			continue
		}
		seen[p.Device] = true
		out = append(out, p)
	}
	return out
}

// collectAddrs lists the addresses of the interfaces that are up.
func collectAddrs() (v4, v6 []string, err error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, nil, fmt.Errorf("interfaces: %w", err)
	}
	var addrs []net.Addr
	var errs []error
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		a, err := ifc.Addrs()
		if err != nil {
			errs = append(errs, fmt.Errorf("addresses of %s: %w", ifc.Name, err))
			continue
		}
		addrs = append(addrs, a...)
	}
	v4, v6 = SplitAddrs(addrs)
	return v4, v6, errors.Join(errs...)
}

// SplitAddrs returns the IPv4 and IPv6 addresses among addrs, in order and
// without duplicates, leaving out loopback, link-local and unspecified ones.
func SplitAddrs(addrs []net.Addr) (v4, v6 []string) {
	seen := map[string]bool{}
	for _, a := range addrs {
		var ip net.IP
		switch a := a.(type) {
		case *net.IPNet:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		default:
			continue
		}
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsMulticast() {
			continue
		}
		s := ip.String()
		if seen[s] {
			continue
		}
		seen[s] = true
		if ip.To4() != nil {
			v4 = append(v4, s)
		} else {
			v6 = append(v6, s)
		}
	}
	return v4, v6
}

// PrivateIP picks the address other nodes should reach this one at: the first
// private (RFC 1918) IPv4 address, else the first IPv4 address, else "".
func PrivateIP(v4 []string) string {
	for _, s := range v4 {
		if ip := net.ParseIP(s); ip != nil && ip.IsPrivate() {
			return s
		}
	}
	if len(v4) > 0 {
		return v4[0]
	}
	return ""
}

// Resources returns what the scheduler may place on the node by default: all
// of its CPUs and memory, and the free space of the filesystem holding
// dataDir. The caller fills the port range and applies any configured limits.
func Resources(f api.Facts, dataDir string) api.NodeResources {
	return api.NodeResources{
		CPUs:   float64(f.CPUs),
		MemMB:  int64(f.MemoryBytes >> 20),
		DiskMB: int64(freeBytes(f, dataDir) >> 20),
	}
}

// freeBytes is the free space of the filesystem holding dir (or its nearest
// existing parent), asked of the kernel, or else taken from the fact of the
// longest mount that contains dir.
func freeBytes(f api.Facts, dir string) uint64 {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return 0
	}
	for p := abs; ; p = filepath.Dir(p) {
		if u, err := disk.Usage(p); err == nil {
			return u.Free
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	return freeFromFacts(f.Disks, abs)
}

// freeFromFacts is the free space of the longest mount among disks that
// holds the absolute path, or 0.
func freeFromFacts(disks []api.Disk, path string) uint64 {
	var best *api.Disk
	for i, d := range disks {
		if within(path, d.Mount) && (best == nil || len(d.Mount) > len(best.Mount)) {
			best = &disks[i]
		}
	}
	if best == nil {
		return 0
	}
	return best.FreeBytes
}

// within reports whether path is mount or below it.
func within(path, mount string) bool {
	if mount == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == mount || strings.HasPrefix(path, mount+"/")
}
