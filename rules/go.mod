module kirjaamo.dev/rules

go 1.26.8
