module apicheck

go 1.26
