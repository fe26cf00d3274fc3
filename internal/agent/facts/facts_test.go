package facts

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/shirou/gopsutil/v4/disk"

	"corral/internal/api"
)

func TestCollect(t *testing.T) {
	f, err := Collect(context.Background(), "v1.2.3")
	if err != nil {
		// Best-effort parts may fail in odd sandboxes; the required ones
		// may not.
		if f.Hostname == "" {
			t.Fatalf("Collect: %v", err)
		}
		t.Logf("Collect (partial): %v", err)
	}
	if f.Hostname == "" || f.CPUs <= 0 || f.MemoryBytes == 0 || f.OS != "linux" || f.CorralVersion != "v1.2.3" {
		t.Errorf("facts = %+v", f)
	}
	if f.Kernel == "" || f.Arch == "" {
		t.Errorf("no kernel or arch: %+v", f)
	}
	for _, d := range f.Disks {
		if pseudoFS[d.FSType] || d.TotalBytes == 0 {
			t.Errorf("disk %+v should have been left out", d)
		}
	}
	t.Logf("facts: %+v", f)

	r := Resources(f, t.TempDir())
	if r.CPUs != float64(f.CPUs) || r.MemMB != int64(f.MemoryBytes>>20) || r.MemMB <= 0 || r.DiskMB <= 0 {
		t.Errorf("Resources = %+v", r)
	}
	if r.PortFrom != 0 || r.PortTo != 0 {
		t.Errorf("Resources set ports: %+v", r)
	}
	// A data dir that does not exist yet counts its nearest parent.
	if r := Resources(f, t.TempDir()+"/not/yet"); r.DiskMB <= 0 {
		t.Errorf("Resources of a missing dir = %+v", r)
	}
}

func TestRealPartitions(t *testing.T) {
	parts := []disk.PartitionStat{
		{Device: "/dev/sda1", Mountpoint: "/", Fstype: "ext4"},
		{Device: "overlay", Mountpoint: "/", Fstype: "overlay"},
		{Device: "proc", Mountpoint: "/proc", Fstype: "proc"},
		{Device: "tmpfs", Mountpoint: "/run", Fstype: "tmpfs"},
		{Device: "/dev/sda2", Mountpoint: "/var", Fstype: "xfs"},
		{Device: "/dev/sda1", Mountpoint: "/srv/bind", Fstype: "ext4"},
		{Device: "/dev/loop0", Mountpoint: "/snap/core/1", Fstype: "squashfs"},
		{Device: "server:/export", Mountpoint: "/mnt/nfs", Fstype: "nfs4"},
		{Device: "cgroup2", Mountpoint: "/sys/fs/cgroup", Fstype: "cgroup2"},
	}
	var got []string
	for _, p := range RealPartitions(parts) {
		got = append(got, p.Mountpoint)
	}
	if want := "[/ /var /mnt/nfs]"; fmt.Sprint(got) != want {
		t.Errorf("mounts = %v, want %s", got, want)
	}
}

func ipnet(s string) net.Addr {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

func TestSplitAddrsAndPrivateIP(t *testing.T) {
	tests := []struct {
		name    string
		addrs   []net.Addr
		v4, v6  string
		private string
	}{
		{
			name: "public first, private picked",
			addrs: []net.Addr{ipnet("127.0.0.1/8"), ipnet("203.0.113.7/24"), ipnet("10.1.2.3/16"),
				ipnet("::1/128"), ipnet("fe80::1/64"), ipnet("2001:db8::5/64"), ipnet("fd00::9/64"),
				ipnet("169.254.1.1/16"), ipnet("192.168.1.4/24")},
			v4: "[203.0.113.7 10.1.2.3 192.168.1.4]", v6: "[2001:db8::5 fd00::9]", private: "10.1.2.3",
		},
		{
			name:  "only public",
			addrs: []net.Addr{ipnet("198.51.100.1/24"), ipnet("203.0.113.7/24")},
			v4:    "[198.51.100.1 203.0.113.7]", v6: "[]", private: "198.51.100.1",
		},
		{
			name:  "only loopback and link-local",
			addrs: []net.Addr{ipnet("127.0.0.1/8"), ipnet("fe80::1/64"), &net.IPAddr{IP: net.ParseIP("169.254.0.1")}},
			v4:    "[]", v6: "[]", private: "",
		},
		{
			name:  "duplicates and 172.16/12",
			addrs: []net.Addr{ipnet("172.20.0.5/16"), ipnet("172.20.0.5/16"), &net.IPAddr{IP: net.ParseIP("2001:db8::1")}},
			v4:    "[172.20.0.5]", v6: "[2001:db8::1]", private: "172.20.0.5",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v4, v6 := SplitAddrs(tt.addrs)
			if fmt.Sprint(v4) != tt.v4 || fmt.Sprint(v6) != tt.v6 {
				t.Errorf("SplitAddrs = %v %v, want %s %s", v4, v6, tt.v4, tt.v6)
			}
			if got := PrivateIP(v4); got != tt.private {
				t.Errorf("PrivateIP = %q, want %q", got, tt.private)
			}
		})
	}
}

func TestFreeFromFacts(t *testing.T) {
	disks := []api.Disk{
		{Mount: "/", FreeBytes: 1},
		{Mount: "/var", FreeBytes: 2},
		{Mount: "/var/lib/docker", FreeBytes: 3},
	}
	tests := []struct {
		path string
		want uint64
	}{
		{"/var/lib/corral", 2},
		{"/var", 2},
		{"/variable", 1},
		{"/var/lib/docker/x", 3},
		{"/srv", 1},
	}
	for _, tt := range tests {
		if got := freeFromFacts(disks, tt.path); got != tt.want {
			t.Errorf("freeFromFacts(%q) = %d, want %d", tt.path, got, tt.want)
		}
	}
	if got := freeFromFacts(nil, "/srv"); got != 0 {
		t.Errorf("freeFromFacts without disks = %d", got)
	}
}
