// The pipeline page: draws its figures (see dashboard.js, BP.page).
