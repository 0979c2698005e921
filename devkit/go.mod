module kirjaamo.dev/devkit

go 1.26.8
