module profkit.bench/manystacks

go 1.21
