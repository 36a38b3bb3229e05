module batchbridge.lab/pause

go 1.21
