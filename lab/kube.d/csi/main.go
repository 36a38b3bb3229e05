// batch-bridge-lab-csi: the lab's stand-in for a site's CSI driver (csi-driver-nfs for dCache,
// IBM Storage Scale for GPFS). It is NOT a production driver: it serves only the CSI Identity and
// Node services for statically provisioned volumes, and NodePublishVolume bind-mounts a directory
// of the lab's storage tree (volume attribute "path", which must lie under one of --root) at the
// kubelet's target path, read-only when the volume or the request says so, always nosuid,nodev.
// It registers itself with the kubelet through the plugin-registration socket (what
// node-driver-registrar does for real drivers), so it starts next to a running kubelet.
//
// What the bridge creates for it (CSIDriver attachRequired=false, PV/PVC pairs, pod volumes) is
// the same as for the site drivers; only the driver name and volume attributes differ.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// Version is stamped by the build (lab/kube.d/build.sh).
var Version = "dev"

// AttrPath is the one volume attribute the lab driver needs: the directory to bind-mount.
const AttrPath = "path"

// Attribute keys the kubelet itself may add (podInfoOnMount, ephemeral); never an error.
const kubeletAttrPrefix = "csi.storage.k8s.io/"

type driver struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedNodeServer
	registerapi.UnimplementedRegistrationServer

	name      string
	nodeID    string
	endpoint  string
	roots     []string
	published string // directory with one record per target we mounted (for lab/kube down)
	mu        sync.Mutex
}

func (d *driver) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: d.name, VendorVersion: Version}, nil
}

func (d *driver) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{}, nil // no controller service: static volumes only
}

func (d *driver) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{}, nil
}

func (d *driver) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: d.nodeID}, nil
}

func (d *driver) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	return &csi.NodeGetCapabilitiesResponse{}, nil // no STAGE_UNSTAGE: the kubelet calls Publish directly
}

// underRoot: path is one of the roots or below one, component-wise (/lab/gpfs2 is not under /lab/gpfs).
func (d *driver) underRoot(path string) bool {
	for _, r := range d.roots {
		if path == r || strings.HasPrefix(path, strings.TrimSuffix(r, "/")+"/") {
			return true
		}
	}
	return false
}

// source checks the volume attributes and returns the directory to bind.
func (d *driver) source(attrs map[string]string) (string, error) {
	for k := range attrs {
		if k != AttrPath && !strings.HasPrefix(k, kubeletAttrPrefix) {
			return "", fmt.Errorf("unknown volume attribute %q (the lab driver knows only %q)", k, AttrPath)
		}
	}
	p := attrs[AttrPath]
	if p == "" {
		return "", fmt.Errorf("volume attribute %q is required", AttrPath)
	}
	if !filepath.IsAbs(p) || filepath.Clean(p) != p {
		return "", fmt.Errorf("volume attribute %s=%q must be an absolute, normalised path", AttrPath, p)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("volume attribute %s=%q: %v", AttrPath, p, err)
	}
	if !d.underRoot(p) || !d.underRoot(real) {
		return "", fmt.Errorf("volume attribute %s=%q is outside the driver's roots %v", AttrPath, p, d.roots)
	}
	st, err := os.Stat(real)
	if err != nil || !st.IsDir() {
		return "", fmt.Errorf("volume attribute %s=%q is not a directory", AttrPath, p)
	}
	return real, nil
}

// mountedAt reports whether target is a mount point (from /proc/self/mountinfo).
func mountedAt(target string) (bool, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && unescape(f[4]) == target {
			return true, nil
		}
	}
	return false, nil
}

// unescape undoes mountinfo's octal escapes (\040 for space, ...).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (d *driver) record(target string) string {
	sum := sha256.Sum256([]byte(target))
	return filepath.Join(d.published, hex.EncodeToString(sum[:8]))
}

func readOnlyMode(c *csi.VolumeCapability) bool {
	switch c.GetAccessMode().GetMode() {
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY, csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY:
		return true
	}
	return false
}

func (d *driver) NodePublishVolume(_ context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	target := req.GetTargetPath()
	if req.GetVolumeId() == "" || target == "" {
		return nil, status.Error(codes.InvalidArgument, "volume id and target path are required")
	}
	c := req.GetVolumeCapability()
	if c == nil || c.GetMount() == nil {
		return nil, status.Error(codes.InvalidArgument, "only mount volumes (not block) are supported")
	}
	src, err := d.source(req.GetVolumeContext())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	ro := req.GetReadonly() || readOnlyMode(c)
	d.mu.Lock()
	defer d.mu.Unlock()
	if ok, err := mountedAt(target); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	} else if ok {
		return &csi.NodePublishVolumeResponse{}, nil // idempotent: already published
	}
	if err := os.MkdirAll(target, 0o750); err != nil {
		return nil, status.Errorf(codes.Internal, "mkdir %s: %v", target, err)
	}
	if err := os.WriteFile(d.record(target), []byte(target+"\n"), 0o600); err != nil {
		return nil, status.Errorf(codes.Internal, "record %s: %v", target, err)
	}
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		_ = os.Remove(d.record(target))
		return nil, status.Errorf(codes.Internal, "bind %s -> %s: %v", src, target, err)
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_NOSUID | unix.MS_NODEV)
	if ro {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount("", target, "", flags, ""); err != nil {
		_ = unix.Unmount(target, 0)
		_ = os.Remove(d.record(target))
		return nil, status.Errorf(codes.Internal, "remount %s (ro=%v): %v", target, ro, err)
	}
	log.Printf("published volume %s: %s -> %s ro=%v", req.GetVolumeId(), src, target, ro)
	return &csi.NodePublishVolumeResponse{}, nil
}

func (d *driver) NodeUnpublishVolume(_ context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	target := req.GetTargetPath()
	if req.GetVolumeId() == "" || target == "" {
		return nil, status.Error(codes.InvalidArgument, "volume id and target path are required")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ok, err := mountedAt(target)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if ok {
		if err := unix.Unmount(target, 0); err != nil {
			return nil, status.Errorf(codes.Internal, "unmount %s: %v", target, err)
		}
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, status.Errorf(codes.Internal, "remove %s: %v", target, err)
	}
	_ = os.Remove(d.record(target))
	log.Printf("unpublished volume %s from %s", req.GetVolumeId(), target)
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// Plugin registration (kubelet side: pluginmanager); the kubelet finds the socket in its
// plugins_registry directory, asks GetInfo, then reports whether it registered the driver.
func (d *driver) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              d.name,
		Endpoint:          d.endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (d *driver) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if s.PluginRegistered {
		log.Printf("registered with the kubelet as %s", d.name)
	} else {
		log.Printf("kubelet refused the registration: %s", s.Error)
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

func listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return net.Listen("unix", path)
}

// serve exits the process on a server error; Serve returns nil after Stop (the SIGTERM path).
func serve(s *grpc.Server, l net.Listener) {
	if err := s.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		log.Fatal(err)
	}
}

func main() {
	name := flag.String("driver-name", "lab.csi.batch-bridge.io", "CSI driver name")
	nodeID := flag.String("node-id", "", "node id reported to the kubelet (the node name)")
	endpoint := flag.String("csi-socket", "", "CSI socket path (under the kubelet's plugins directory)")
	regSocket := flag.String("registration-socket", "", "socket in the kubelet's plugins_registry directory")
	roots := flag.String("roots", "/lab", "comma-separated directories volumes may bind from")
	published := flag.String("state-dir", "", "directory recording the targets this plugin mounted")
	version := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *version {
		fmt.Println(Version)
		return
	}
	if *nodeID == "" || *endpoint == "" || *regSocket == "" || *published == "" {
		log.Fatal("--node-id, --csi-socket, --registration-socket and --state-dir are required")
	}
	d := &driver{name: *name, nodeID: *nodeID, endpoint: *endpoint, published: *published}
	for _, r := range strings.Split(*roots, ",") {
		if r = filepath.Clean(strings.TrimSpace(r)); filepath.IsAbs(r) {
			d.roots = append(d.roots, r)
		}
	}
	if len(d.roots) == 0 {
		log.Fatal("--roots: no absolute directory")
	}
	if err := os.MkdirAll(d.published, 0o700); err != nil {
		log.Fatal(err)
	}
	csiL, err := listen(*endpoint)
	if err != nil {
		log.Fatalf("csi socket: %v", err)
	}
	csiSrv := grpc.NewServer()
	csi.RegisterIdentityServer(csiSrv, d)
	csi.RegisterNodeServer(csiSrv, d)
	go serve(csiSrv, csiL)
	// The registration socket last: the kubelet dials the CSI socket as soon as it sees it.
	regL, err := listen(*regSocket)
	if err != nil {
		log.Fatalf("registration socket: %v", err)
	}
	regSrv := grpc.NewServer()
	registerapi.RegisterRegistrationServer(regSrv, d)
	go serve(regSrv, regL)
	log.Printf("%s %s serving node %s on %s (registration %s), roots %v", d.name, Version, d.nodeID, *endpoint, *regSocket, d.roots)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	// Deregister first (the kubelet drops the driver when the socket goes), then stop serving.
	// Volumes stay mounted for running pods; lab/kube down unmounts the recorded targets.
	regSrv.Stop()
	_ = os.Remove(*regSocket)
	csiSrv.Stop()
	_ = os.Remove(*endpoint)
	log.Printf("stopped")
}
