#!/usr/bin/env Rscript
## make_golden.R -- golden reference values from R for revoscale's rx-models tests.
##
## Run from this folder:    Rscript make_golden.R
## It (re)writes every *.csv and *.json file in this folder; a second run on the
## same R and package versions reproduces them byte for byte (nothing random, no
## dates, no paths).  See README.md for the layout of the files.
##
## Every model is fitted on the data AS READ BACK from the CSV written here, so
## the CSV holds exactly the numbers R used.

## write next to this script wherever it is started from
local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f) == 1L) setwd(dirname(normalizePath(f)))
})

suppressPackageStartupMessages({
  library(jsonlite)
  library(MASS)
  library(statmod)
})
Sys.setenv(LANGUAGE = "en")            # warning texts in English
invisible(Sys.setlocale("LC_MESSAGES", "C"))
invisible(Sys.setlocale("LC_COLLATE", "C"))
options(stringsAsFactors = FALSE, warn = 1, OutDec = ".", scipen = 0,
        contrasts = c(unordered = "contr.treatment", ordered = "contr.poly"))

## ---------------------------------------------------------------------------
## JSON writer: numbers in the shortest of %.15g / %.16g / %.17g that reads back
## to the same double (so always round-trip exact), NA/NaN as null, a length-1
## vector as a scalar unless wrapped in I(), a matrix as an array of rows.
## ---------------------------------------------------------------------------
NUMCHECK <- Sys.getenv("GOLDEN_NUMCHECK")   # debugging aid: dump "%.17g chosen" pairs
numcheck_acc <- character()

## Read decimal strings back as a correct parser does (jsonlite -> C strtod,
## correctly rounded).  R's own as.numeric() is not correctly rounded for some
## 16-17 digit strings, so it must not be used for this check.
readback <- function(s) {
  if (!length(s)) return(numeric())
  as.numeric(jsonlite::parse_json(paste0("[", paste(s, collapse = ","), "]"), simplifyVector = TRUE))
}

fmt_num <- function(x) {
  out <- rep("null", length(x))
  ok <- !is.na(x)
  if (any(is.infinite(x))) stop("infinite value in JSON output")
  v <- x[ok]
  s <- sprintf("%.15g", v)
  bad <- readback(s) != v
  if (any(bad)) {
    s16 <- sprintf("%.16g", v[bad])
    s[bad] <- s16
    bad2 <- which(bad)[readback(s16) != v[bad]]
    if (length(bad2)) s[bad2] <- sprintf("%.17g", v[bad2])
  }
  if (nzchar(NUMCHECK)) numcheck_acc <<- c(numcheck_acc, paste(sprintf("%.17g", v), s))
  out[ok] <- s
  out
}

json_str <- function(s) {
  vapply(s, function(x) {
    if (is.na(x)) return("null")
    x <- gsub("\\", "\\\\", x, fixed = TRUE)
    x <- gsub("\"", "\\\"", x, fixed = TRUE)
    x <- gsub("\n", "\\n", x, fixed = TRUE)
    x <- gsub("\t", "\\t", x, fixed = TRUE)
    x <- gsub("\r", "\\r", x, fixed = TRUE)
    if (grepl("[[:cntrl:]]", x)) stop("control character in string")
    paste0("\"", x, "\"")
  }, "", USE.NAMES = FALSE)
}

atom_strs <- function(x) {
  if (is.factor(x)) x <- as.character(x)
  if (is.logical(x)) return(ifelse(is.na(x), "null", ifelse(x, "true", "false")))
  if (is.integer(x)) return(ifelse(is.na(x), "null", as.character(x)))
  if (is.double(x)) return(fmt_num(x))
  if (is.character(x)) return(json_str(x))
  stop("cannot serialise ", class(x)[1])
}

to_json <- function(x, ind = 0L) {
  pad <- strrep("  ", ind); pad2 <- strrep("  ", ind + 1L)
  if (is.null(x)) return("null")
  if (is.list(x)) {
    nm <- names(x)
    if (length(x) == 0L) return(if (is.null(nm)) "[]" else "{}")
    items <- vapply(x, to_json, "", ind = ind + 1L, USE.NAMES = FALSE)
    if (!is.null(nm)) {
      stopifnot(all(nzchar(nm)), !anyDuplicated(nm))
      return(paste0("{\n", paste0(pad2, json_str(nm), ": ", items, collapse = ",\n"), "\n", pad, "}"))
    }
    return(paste0("[\n", paste0(pad2, items, collapse = ",\n"), "\n", pad, "]"))
  }
  if (is.matrix(x)) {
    if (nrow(x) == 0L) return("[]")
    rows <- vapply(seq_len(nrow(x)), function(i)
      paste0("[", paste(atom_strs(x[i, , drop = TRUE]), collapse = ", "), "]"), "")
    return(paste0("[\n", paste0(pad2, rows, collapse = ",\n"), "\n", pad, "]"))
  }
  s <- atom_strs(unclass(x))
  if (length(x) == 1L && !inherits(x, "AsIs")) return(s)
  paste0("[", paste(s, collapse = ", "), "]")
}

write_json_file <- function(x, file) {
  txt <- to_json(x)
  con <- file(file, open = "wb")
  writeLines(txt, con, sep = "\n", useBytes = TRUE)
  close(con)
  invisible(jsonlite::fromJSON(file, simplifyVector = FALSE))   # validates
}

arr <- function(x) I(x)                      # always a JSON array
strs <- function(x) I(as.character(x))

## capture warnings (muffled) together with the value
capture <- function(expr) {
  warns <- character()
  val <- withCallingHandlers(expr, warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  list(value = val, warnings = warns)
}

## ---------------------------------------------------------------------------
## Data sets.  Factors keep R's level order, written in the JSON metadata.
## w : deterministic positive weights, multiples of 1/8 (exact in binary)
## fw: deterministic integer frequency weights 1..3
## ---------------------------------------------------------------------------
add_weights <- function(d) {
  i <- seq_len(nrow(d))
  d$w <- (1 + (i * 13) %% 17) / 8
  d$fw <- 1L + as.integer((i * 7 + 3) %% 5) %% 3L
  d
}

src_mtcars <- function() {
  m <- datasets::mtcars
  d <- data.frame(model = rownames(m), m, row.names = NULL, check.names = FALSE)
  d$cyl_f  <- factor(paste0("c", m$cyl), levels = c("c4", "c6", "c8"))
  d$gear_f <- factor(paste0("g", m$gear), levels = c("g3", "g4", "g5"))
  d$am_f   <- factor(ifelse(m$am == 1, "manual", "auto"), levels = c("auto", "manual"))
  d$wt_lb  <- round(m$wt * 1000)           # = 1000 * wt: collinear with wt
  add_weights(d)
}
src_warpbreaks <- function() add_weights(datasets::warpbreaks)
src_airquality <- function() {
  d <- datasets::airquality
  d$month_f <- factor(month.abb[d$Month], levels = month.abb[5:9])
  add_weights(d)
}
src_insectsprays <- function() datasets::InsectSprays
src_infert <- function() {
  d <- datasets::infert
  d$education <- factor(as.character(d$education), levels = levels(datasets::infert$education))
  d
}
src_insurance <- function() {
  d <- MASS::Insurance
  data.frame(District = factor(paste0("D", d$District), levels = paste0("D", 1:4)),
             Group = factor(as.character(d$Group), levels = levels(d$Group)),   # unordered
             Age = factor(as.character(d$Age), levels = levels(d$Age)),         # unordered
             Holders = d$Holders, Claims = d$Claims)
}
src_iris <- function() {
  d <- datasets::iris
  d$is_setosa <- as.integer(d$Species == "setosa")
  d
}

DATASETS <- list(
  mtcars = list(make = src_mtcars, source = "datasets::mtcars",
                notes = "row names as column 'model'; cyl_f/gear_f/am_f are cyl/gear/am as factors with labels c4,c6,c8 / g3,g4,g5 / auto,manual; wt_lb = 1000*wt (collinear with wt); w, fw deterministic weights"),
  warpbreaks = list(make = src_warpbreaks, source = "datasets::warpbreaks",
                    notes = "w, fw deterministic weights"),
  airquality = list(make = src_airquality, source = "datasets::airquality",
                    notes = "NAs in Ozone (37) and Solar.R (7); month_f = Month as factor May..Sep; w, fw deterministic weights"),
  insectsprays = list(make = src_insectsprays, source = "datasets::InsectSprays", notes = ""),
  infert = list(make = src_infert, source = "datasets::infert",
                notes = "education levels in R's order 0-5yrs, 6-11yrs, 12+ yrs (not alphabetical)"),
  insurance = list(make = src_insurance, source = "MASS::Insurance",
                   notes = "District relabelled D1..D4; Group and Age made UNORDERED factors (MASS has them ordered) so treatment contrasts apply"),
  iris = list(make = src_iris, source = "datasets::iris",
              notes = "is_setosa = 1 if Species == setosa else 0 (perfectly separated by Petal.Length)")
)

write_dataset <- function(name, d) {
  file <- paste0(name, ".csv")
  chr <- vapply(d, function(col) is.character(col) || is.factor(col), TRUE)
  for (cn in names(d)[chr]) {
    v <- as.character(d[[cn]])
    if (any(grepl("[,\"\n]", v)) || any(v == "NA", na.rm = TRUE)) stop("unsafe label in ", name, "$", cn)
  }
  utils::write.csv(d, file, row.names = FALSE, quote = FALSE, na = "NA", fileEncoding = "UTF-8")
  file
}

## Read the CSV back as text and convert numbers with a correctly rounded
## parser (readback), i.e. exactly as any other correct CSV reader would; the
## models are fitted on these values.
read_dataset <- function(name, orig) {
  d <- utils::read.csv(paste0(name, ".csv"), stringsAsFactors = FALSE, na.strings = "NA",
                       check.names = FALSE, colClasses = "character")
  stopifnot(identical(names(d), names(orig)), nrow(d) == nrow(orig))
  for (cn in names(orig)) {
    if (is.factor(orig[[cn]])) {
      d[[cn]] <- factor(d[[cn]], levels = levels(orig[[cn]]))
      stopifnot(identical(as.integer(d[[cn]]), as.integer(orig[[cn]])))
    } else if (is.character(orig[[cn]])) {
      stopifnot(identical(d[[cn]], orig[[cn]]))
    } else {
      txt <- d[[cn]]
      v <- rep(NA_real_, length(txt))
      v[!is.na(txt)] <- readback(txt[!is.na(txt)])
      if (is.integer(orig[[cn]])) v <- as.integer(v)
      stopifnot(identical(is.na(v), is.na(orig[[cn]])),
                all(v == orig[[cn]], na.rm = TRUE))
      d[[cn]] <- v
    }
  }
  d
}

DS <- list()
ds_meta <- list()
for (nm in names(DATASETS)) {
  orig <- DATASETS[[nm]]$make()
  file <- write_dataset(nm, orig)
  DS[[nm]] <- read_dataset(nm, orig)
  cols <- lapply(names(orig), function(cn) {
    x <- orig[[cn]]
    type <- if (is.factor(x)) "factor" else if (is.character(x)) "string" else
      if (is.integer(x) || all(x == round(x), na.rm = TRUE)) "integer" else "numeric"
    list(name = cn, type = type,
         levels = if (is.factor(x)) strs(levels(x)) else NULL,
         missing_n = sum(is.na(x)))
  })
  ds_meta[[nm]] <- list(file = file, source = DATASETS[[nm]]$source, notes = DATASETS[[nm]]$notes,
                        rows = nrow(orig), columns = cols)
}

ds_file <- function(name) paste0(name, ".csv")

## ---------------------------------------------------------------------------
## Contrasts.  drop_first = TRUE : contr.treatment (R default, first level is
## the reference).  drop_first = FALSE: contr.treatment(n, base = n) (last level
## is the reference, revoscalepy's default).
## ---------------------------------------------------------------------------
contr.last <- function(n, contrasts = TRUE, sparse = FALSE) {
  nn <- if (length(n) <= 1L && is.numeric(n)) n else length(n)
  contr.treatment(n, base = nn, contrasts = contrasts, sparse = sparse)
}
with_contrasts <- function(drop_first, expr) {
  old <- options(contrasts = c(unordered = if (isFALSE(drop_first)) "contr.last" else "contr.treatment",
                               ordered = "contr.poly"))
  on.exit(options(old))
  expr
}
R_CONTRASTS <- c("TRUE" = "contr.treatment", "FALSE" = "contr.treatment(n, base = n)")

## ---------------------------------------------------------------------------
## revoscalepy-style coefficient names.
##   intercept                 "(Intercept)"
##   numeric (or computed) term the variable text as R deparses it: "wt", "I(wt^2)", "log(hp)"
##   factor level              "F=level"
##   factor:factor             "F=a, G=b"            (factor parts in R's variable order, joined ", ")
##   numeric:factor            "x for F=a"           (numeric parts first, joined ":", then " for ",
##                                                     then the factor parts joined ", ")
##   numeric:numeric           "x:z"
## Each model-matrix column is decoded from R's own column name (variable name
## followed by the level, parts joined by ":"), and the decoding is checked.
## For every term the full grid of factor levels (first factor varies fastest,
## as in R) is listed with status estimated / aliased / dropped.
## ---------------------------------------------------------------------------
rx_label <- function(vars, lev) {
  isf <- !is.na(lev)
  num <- vars[!isf]
  fp <- if (any(isf)) paste0(vars[isf], "=", lev[isf]) else character()
  if (!length(fp)) return(paste(num, collapse = ":"))
  if (!length(num)) return(paste(fp, collapse = ", "))
  paste0(paste(num, collapse = ":"), " for ", paste(fp, collapse = ", "))
}

coef_layout <- function(fit) {
  mm <- model.matrix(fit)
  asgn <- attr(mm, "assign"); cn <- colnames(mm)
  stopifnot(identical(names(coef(fit)), cn))
  tt <- terms(fit); labs <- attr(tt, "term.labels"); fac <- attr(tt, "factors")
  xlev <- fit$xlevels
  cf <- coef(fit)
  cols <- vector("list", length(cn))
  for (j in seq_along(cn)) {
    t <- asgn[j]
    if (t == 0) {
      cols[[j]] <- list(term = "(Intercept)", vars = character(), lev = character(), rx = "(Intercept)")
      next
    }
    vars <- rownames(fac)[fac[, t] > 0]
    parts <- strsplit(cn[j], ":", fixed = TRUE)[[1]]
    stopifnot(length(parts) == length(vars))
    lev <- rep(NA_character_, length(vars))
    for (k in seq_along(vars)) {
      if (vars[k] %in% names(xlev)) {
        stopifnot(startsWith(parts[k], vars[k]))
        lev[k] <- substring(parts[k], nchar(vars[k]) + 1L)
        stopifnot(lev[k] %in% xlev[[vars[k]]])
      } else stopifnot(parts[k] == vars[k])
    }
    ## R's own name rebuilt from the decoding
    stopifnot(identical(paste0(vars, ifelse(is.na(lev), "", lev), collapse = ":"), cn[j]))
    cols[[j]] <- list(term = labs[t], vars = vars, lev = lev, rx = rx_label(vars, lev))
  }
  ## full grid per term
  full <- list(); dropped <- list()
  for (t in sort(unique(asgn))) {
    js <- which(asgn == t)
    if (t == 0) {
      full[[length(full) + 1L]] <- list(rx_name = "(Intercept)", r_name = "(Intercept)", term = "(Intercept)",
                                        status = if (is.na(cf[js])) "aliased" else "estimated")
      next
    }
    vars <- cols[[js[1]]]$vars
    grid <- expand.grid(lapply(vars, function(v) if (v %in% names(xlev)) xlev[[v]] else NA_character_),
                        KEEP.OUT.ATTRS = FALSE, stringsAsFactors = FALSE)
    keys <- vapply(js, function(j) paste(cols[[j]]$lev, collapse = "\r"), "")
    for (g in seq_len(nrow(grid))) {
      lev <- unlist(grid[g, ], use.names = FALSE)
      key <- paste(lev, collapse = "\r")
      hit <- match(key, keys)
      rx <- rx_label(vars, lev)
      if (is.na(hit)) {
        rec <- list(rx_name = rx, r_name = NULL, term = labs[t], status = "dropped")
        dropped[[length(dropped) + 1L]] <- list(term = labs[t], rx_name = rx,
                                                levels = as.list(setNames(lev[!is.na(lev)], vars[!is.na(lev)])))
      } else {
        j <- js[hit]
        rec <- list(rx_name = rx, r_name = cn[j], term = labs[t],
                    status = if (is.na(cf[j])) "aliased" else "estimated")
      }
      full[[length(full) + 1L]] <- rec
    }
    ## estimated columns appear in the grid in R's order
    pos <- vapply(full, function(r) if (is.null(r$r_name)) NA_character_ else r$r_name, "")
    stopifnot(identical(pos[pos %in% cn[js]], cn[js]))
  }
  list(cols = cols, full = full, dropped = dropped)
}

coef_records <- function(fit, layout) {
  cf <- coef(fit)
  sm <- coef(summary(fit))
  lapply(seq_along(cf), function(j) {
    nm <- names(cf)[j]
    al <- is.na(cf[j])
    row <- if (al) rep(NA_real_, 4) else unname(sm[nm, ])
    list(name = nm, rx_name = layout$cols[[j]]$rx, term = layout$cols[[j]]$term,
         estimate = row[1], std_error = row[2], statistic = row[3], p_value = row[4],
         aliased = al)
  })
}

vcov_record <- function(fit) {
  v <- vcov(fit)                     # complete = TRUE: aliased rows/cols are null
  dimnames(v) <- NULL
  list(names = strs(names(coef(fit))), matrix = v)
}

## the two contrast codings span the same column space: same fitted values
same_fit_check <- function(fits) {
  if (length(fits) == 2L)
    stopifnot(isTRUE(all.equal(unname(fitted(fits[[1]]$value)), unname(fitted(fits[[2]]$value)),
                               tolerance = 1e-9)))
}

has_factors <- function(fml, d) {
  vars <- all.vars(fml)
  any(vapply(vars, function(v) v %in% names(d) && is.factor(d[[v]]), TRUE))
}

expand_fw <- function(d, col) {
  e <- d[rep(seq_len(nrow(d)), d[[col]]), , drop = FALSE]
  rownames(e) <- NULL
  e
}

weights_record <- function(weights) {
  if (is.null(weights)) return(NULL)
  list(column = weights$column, type = weights$type,
       meaning = if (weights$type == "fweights")
         "frequency weights: R fit on the data with each row repeated fw times; n_used counts the repeated rows"
       else "probability weights: R's weights= argument (weighted least squares / prior weights)")
}

## ---------------------------------------------------------------------------
## lm
## ---------------------------------------------------------------------------
lm_case <- function(name, data, formula, weights = NULL, description = "") {
  d <- DS[[data]]
  fml <- as.formula(formula)
  dfit <- d
  wcol <- NULL
  if (!is.null(weights)) {
    if (weights$type == "fweights") dfit <- expand_fw(d, weights$column)
    else wcol <- weights$column
  }
  fit_one <- function(drop_first) with_contrasts(drop_first, capture(
    if (is.null(wcol)) lm(fml, data = dfit, na.action = na.omit)
    else eval(bquote(lm(fml, data = dfit, weights = .(as.name(wcol)), na.action = na.omit)))))
  dfs <- if (has_factors(fml, d)) list(TRUE, FALSE) else list(NA)
  fits <- lapply(dfs, fit_one)
  same_fit_check(fits)
  variants <- lapply(seq_along(dfs), function(i) {
    fit <- fits[[i]]$value
    s <- summary(fit)
    lay <- coef_layout(fit)
    fs <- s$fstatistic
    list(drop_first = dfs[[i]],
         r_contrasts = if (is.na(dfs[[i]])) NULL else unname(R_CONTRASTS[as.character(dfs[[i]])]),
         statistic_name = colnames(coef(s))[3],
         coefficients = coef_records(fit, lay),
         dropped = lay$dropped,
         rx_full = lay$full,
         rank = fit$rank,
         sigma = s$sigma,
         r_squared = s$r.squared,
         adj_r_squared = s$adj.r.squared,
         fstatistic = if (is.null(fs)) NULL else
           list(value = unname(fs["value"]), numdf = unname(fs["numdf"]), dendf = unname(fs["dendf"]),
                p_value = unname(pf(fs["value"], fs["numdf"], fs["dendf"], lower.tail = FALSE))),
         df_residual = fit$df.residual,
         vcov = vcov_record(fit),
         warnings = strs(fits[[i]]$warnings))
  })
  fit <- fits[[1]]$value
  s <- summary(fit)
  n_used <- nrow(model.frame(fit))
  ## predictions on the data rows (original rows, not expanded); rows whose
  ## predictors are missing give null
  pargs <- list(object = fit, newdata = d, level = 0.95)
  if (!is.null(wcol)) pargs$pred.var <- s$sigma^2    # new observation has unit weight
  pc <- capture(do.call(predict, c(pargs, list(se.fit = TRUE, interval = "confidence"))))
  pp <- capture(do.call(predict, c(pargs, list(interval = "prediction"))))
  y <- d[[all.vars(fml)[1]]]
  pred <- list(rows = nrow(d),
               fit = arr(unname(pc$value$fit[, "fit"])),
               se_fit = arr(unname(pc$value$se.fit)),
               conf_lwr = arr(unname(pc$value$fit[, "lwr"])),
               conf_upr = arr(unname(pc$value$fit[, "upr"])),
               pred_lwr = arr(unname(pp$value[, "lwr"])),
               pred_upr = arr(unname(pp$value[, "upr"])),
               residuals = arr(unname(y - pc$value$fit[, "fit"])),
               df = pc$value$df,
               residual_scale = pc$value$residual.scale,
               prediction_variance = if (is.null(wcol)) "sigma^2 + se_fit^2 (R default)" else
                 "sigma^2 + se_fit^2 (pred.var = sigma^2: a new observation has unit weight)")
  wcall <- if (is.null(wcol)) "" else paste0(", weights = ", wcol)
  list(name = name, description = description, data = ds_file(data), formula = formula,
       weights = weights_record(weights),
       options = list(intercept = attr(terms(fit), "intercept") == 1L,
                      na_action = "na.omit: rows with a missing value in any model variable are dropped",
                      conf_level = 0.95,
                      r_call = paste0("lm(", formula, ", data = ",
                                      if (!is.null(weights) && weights$type == "fweights")
                                        paste0(data, "[rep(seq_len(nrow(", data, ")), ", data, "$", weights$column, "), ]")
                                      else data, wcall, ")")),
       n_rows_data = nrow(d), n_used = n_used,
       n_missing = nrow(dfit) - n_used,
       variants = variants,
       predictions = pred,
       prediction_warnings = strs(c(pc$warnings, pp$warnings)))
}

lm_cases <- list(
  lm_case("lm_mtcars_numeric", "mtcars", "mpg ~ wt + hp + qsec",
          description = "numeric predictors only"),
  lm_case("lm_mtcars_numeric_interaction", "mtcars", "mpg ~ wt + hp + wt:hp",
          description = "numeric:numeric interaction"),
  lm_case("lm_mtcars_factors", "mtcars", "mpg ~ wt + cyl_f + am_f",
          description = "factor main effects"),
  lm_case("lm_warpbreaks_interaction", "warpbreaks", "breaks ~ wool * tension",
          description = "factor*factor interaction"),
  lm_case("lm_iris_factor_numeric", "iris", "Sepal.Length ~ Petal.Length * Species",
          description = "numeric:factor interaction with both main effects (contrast-coded factor in the interaction)"),
  lm_case("lm_iris_separate_slopes", "iris", "Sepal.Length ~ Species + Petal.Length:Species",
          description = "numeric:factor interaction without the numeric main effect: R codes the factor in the interaction with all levels"),
  lm_case("lm_mtcars_transforms", "mtcars", "mpg ~ wt + I(wt^2) + log(hp)",
          description = "computed terms I(x^2) and log(x)"),
  lm_case("lm_mtcars_no_intercept", "mtcars", "mpg ~ wt + hp - 1",
          description = "no intercept; R^2 and F are uncentred (R's summary.lm)"),
  lm_case("lm_mtcars_no_intercept_factor", "mtcars", "mpg ~ cyl_f + am_f + wt - 1",
          description = "no intercept: the first factor is coded with all its levels, the second with contrasts"),
  lm_case("lm_airquality_missing", "airquality", "Ozone ~ Solar.R + Wind + Temp",
          description = "rows with missing values dropped (42 of 153)"),
  lm_case("lm_airquality_missing_factor", "airquality", "Ozone ~ Solar.R + Wind + Temp + month_f",
          description = "missing values plus a factor"),
  lm_case("lm_mtcars_pweights", "mtcars", "mpg ~ wt + hp + am_f",
          weights = list(column = "w", type = "pweights"),
          description = "probability weights = R lm(weights = w)"),
  lm_case("lm_mtcars_fweights", "mtcars", "mpg ~ wt + hp + am_f",
          weights = list(column = "fw", type = "fweights"),
          description = "frequency weights = R lm on rows repeated fw times"),
  lm_case("lm_warpbreaks_fweights", "warpbreaks", "breaks ~ wool + tension",
          weights = list(column = "fw", type = "fweights"),
          description = "frequency weights with factors"),
  lm_case("lm_mtcars_collinear", "mtcars", "mpg ~ wt + hp + wt_lb",
          description = "wt_lb = 1000*wt is collinear: R reports NA (aliased) for wt_lb"),
  lm_case("lm_mtcars_empty_cell", "mtcars", "mpg ~ cyl_f * gear_f",
          description = "factor*factor with an empty cell (c8 & g4): one interaction coefficient is aliased")
)

## ---------------------------------------------------------------------------
## glm
## ---------------------------------------------------------------------------
GLM_CONTROL <- glm.control()     # epsilon = 1e-8, maxit = 25

glm_case <- function(name, data, formula, family, r_family, family_extra = NULL,
                     weights = NULL, description = "", expect = NULL) {
  d <- DS[[data]]
  fml <- as.formula(formula)
  dfit <- d
  wcol <- NULL
  if (!is.null(weights)) {
    if (weights$type == "fweights") dfit <- expand_fw(d, weights$column)
    else wcol <- weights$column
  }
  fit_one <- function(drop_first) with_contrasts(drop_first, capture(
    if (is.null(wcol)) glm(fml, family = family, data = dfit, na.action = na.omit, control = GLM_CONTROL)
    else eval(bquote(glm(fml, family = family, data = dfit, weights = .(as.name(wcol)),
                         na.action = na.omit, control = GLM_CONTROL)))))
  dfs <- if (has_factors(fml, d)) list(TRUE, FALSE) else list(NA)
  fits <- lapply(dfs, fit_one)
  same_fit_check(fits)
  variants <- lapply(seq_along(dfs), function(i) {
    fit <- fits[[i]]$value
    s <- summary(fit)
    lay <- coef_layout(fit)
    list(drop_first = dfs[[i]],
         r_contrasts = if (is.na(dfs[[i]])) NULL else unname(R_CONTRASTS[as.character(dfs[[i]])]),
         statistic_name = colnames(coef(s))[3],
         coefficients = coef_records(fit, lay),
         dropped = lay$dropped,
         rx_full = lay$full,
         rank = fit$rank,
         deviance = fit$deviance,
         null_deviance = fit$null.deviance,
         df_residual = fit$df.residual,
         df_null = fit$df.null,
         aic = fit$aic,
         dispersion = s$dispersion,
         iter = fit$iter,
         converged = fit$converged,
         boundary = fit$boundary,
         vcov = vcov_record(fit),
         warnings = strs(fits[[i]]$warnings))
  })
  fit <- fits[[1]]$value
  n_used <- nrow(model.frame(fit))
  pl <- capture(predict(fit, newdata = d, type = "link", se.fit = TRUE))
  pr <- capture(predict(fit, newdata = d, type = "response", se.fit = TRUE))
  fam <- family(fit)
  wcall <- if (is.null(wcol)) "" else paste0(", weights = ", wcol)
  list(name = name, description = description, data = ds_file(data), formula = formula,
       family = fam$family, link = fam$link, family_extra = family_extra,
       r_family = r_family,
       weights = weights_record(weights),
       expect = expect,
       options = list(intercept = attr(terms(fit), "intercept") == 1L,
                      na_action = "na.omit: rows with a missing value in any model variable are dropped",
                      control = list(epsilon = GLM_CONTROL$epsilon, maxit = GLM_CONTROL$maxit),
                      start = "R default (family initialize: mustart)",
                      r_call = paste0("glm(", formula, ", family = ", r_family, ", data = ",
                                      if (!is.null(weights) && weights$type == "fweights")
                                        paste0(data, "[rep(seq_len(nrow(", data, ")), ", data, "$", weights$column, "), ]")
                                      else data, wcall, ")")),
       n_rows_data = nrow(d), n_used = n_used, n_missing = nrow(dfit) - n_used,
       variants = variants,
       predictions = list(rows = nrow(d),
                          link_fit = arr(unname(pl$value$fit)),
                          link_se_fit = arr(unname(pl$value$se.fit)),
                          response_fit = arr(unname(pr$value$fit)),
                          response_se_fit = arr(unname(pr$value$se.fit)),
                          residual_scale = pl$value$residual.scale),
       prediction_warnings = strs(c(pl$warnings, pr$warnings)))
}

INFERT_F <- "case ~ age + parity + education + spontaneous + induced"
tw <- statmod::tweedie(var.power = 1.5, link.power = 0)

glm_cases <- list(
  glm_case("glm_infert_logit", "infert", INFERT_F, binomial(link = "logit"), "binomial(link = \"logit\")"),
  glm_case("glm_infert_probit", "infert", INFERT_F, binomial(link = "probit"), "binomial(link = \"probit\")"),
  glm_case("glm_infert_cloglog", "infert", INFERT_F, binomial(link = "cloglog"), "binomial(link = \"cloglog\")"),
  glm_case("glm_mtcars_logit", "mtcars", "am ~ wt + hp", binomial(link = "logit"), "binomial(link = \"logit\")"),
  glm_case("glm_insectsprays_poisson", "insectsprays", "count ~ spray", poisson(link = "log"), "poisson(link = \"log\")"),
  glm_case("glm_warpbreaks_poisson", "warpbreaks", "breaks ~ wool + tension", poisson(link = "log"), "poisson(link = \"log\")"),
  glm_case("glm_insurance_poisson_offset", "insurance", "Claims ~ District + Group + Age + offset(log(Holders))",
           poisson(link = "log"), "poisson(link = \"log\")",
           description = "poisson with an offset log(exposure); predictions include the offset"),
  glm_case("glm_mtcars_gamma_inverse", "mtcars", "mpg ~ wt + hp", Gamma(link = "inverse"), "Gamma(link = \"inverse\")"),
  glm_case("glm_mtcars_gamma_log", "mtcars", "mpg ~ wt + cyl_f", Gamma(link = "log"), "Gamma(link = \"log\")"),
  glm_case("glm_airquality_gamma_log_missing", "airquality", "Ozone ~ Solar.R + Wind + Temp", Gamma(link = "log"),
           "Gamma(link = \"log\")", description = "rows with missing values dropped"),
  glm_case("glm_mtcars_invgauss_inverse_sq", "mtcars", "mpg ~ wt + hp", inverse.gaussian(link = "1/mu^2"),
           "inverse.gaussian(link = \"1/mu^2\")"),
  glm_case("glm_mtcars_invgauss_log", "mtcars", "mpg ~ wt + hp", inverse.gaussian(link = "log"),
           "inverse.gaussian(link = \"log\")"),
  glm_case("glm_insectsprays_tweedie", "insectsprays", "count ~ spray", tw,
           "statmod::tweedie(var.power = 1.5, link.power = 0)",
           family_extra = list(var_power = 1.5, link_power = 0, link_meaning = "link.power = 0 is the log link"),
           description = "tweedie, variance mu^1.5, log link; R gives AIC = NA (null)"),
  glm_case("glm_mtcars_gaussian_identity", "mtcars", "mpg ~ wt + hp", gaussian(link = "identity"), "gaussian(link = \"identity\")"),
  glm_case("glm_mtcars_gaussian_log", "mtcars", "mpg ~ wt + hp", gaussian(link = "log"), "gaussian(link = \"log\")"),
  glm_case("glm_warpbreaks_poisson_pweights", "warpbreaks", "breaks ~ wool + tension", poisson(link = "log"),
           "poisson(link = \"log\")", weights = list(column = "w", type = "pweights"),
           description = "prior weights = R glm(weights = w)"),
  glm_case("glm_mtcars_logit_fweights", "mtcars", "am ~ wt + hp", binomial(link = "logit"), "binomial(link = \"logit\")",
           weights = list(column = "fw", type = "fweights"),
           description = "frequency weights = R glm on rows repeated fw times (df counts repeated rows)"),
  glm_case("glm_iris_separated", "iris", "is_setosa ~ Petal.Length", binomial(link = "logit"), "binomial(link = \"logit\")",
           description = "perfect separation: R does not converge in 25 iterations and warns; values are R's last iterate",
           expect = "separation")
)

## ---------------------------------------------------------------------------
## summaries
## ---------------------------------------------------------------------------
num_stats <- function(x) {
  v <- x[!is.na(x)]
  list(mean = mean(v), sd = sd(v), min = min(v), max = max(v), sum = sum(v),
       valid_n = length(v), missing_n = sum(is.na(x)))
}
wnum_stats <- function(x, w) {
  ok <- !is.na(x) & !is.na(w)
  xv <- x[ok]; wv <- w[ok]
  sw <- sum(wv)
  m <- sum(wv * xv) / sw
  list(mean = m, sd = sqrt(sum(wv * (xv - m)^2) / (sw - 1)), min = min(xv), max = max(xv),
       sum = sum(wv * xv), sum_weights = sw, valid_n = length(xv), missing_n = sum(!ok))
}
fac_stats <- function(x) list(levels = strs(levels(x)), counts = arr(as.integer(table(x, useNA = "no"))),
                              missing_n = sum(is.na(x)))

summary_case <- function(name, data, columns) {
  d <- DS[[data]]
  num <- columns[!vapply(columns, function(c) is.factor(d[[c]]), TRUE)]
  fac <- columns[vapply(columns, function(c) is.factor(d[[c]]), TRUE)]
  list(name = name, kind = "columns", data = ds_file(data), rows = nrow(d),
       numeric = lapply(num, function(c) c(list(name = c), num_stats(d[[c]]))),
       factors = lapply(fac, function(c) c(list(name = c), fac_stats(d[[c]]))))
}
by_case <- function(name, data, variable, by) {
  d <- DS[[data]]
  g <- d[[by]]
  list(name = name, kind = "by_group", data = ds_file(data), variable = variable, by = by,
       groups = lapply(levels(g), function(l) c(list(level = l), num_stats(d[[variable]][!is.na(g) & g == l]))))
}
weighted_case <- function(name, data, columns, wcol, wtype) {
  d <- DS[[data]]
  list(name = name, kind = "weighted", data = ds_file(data), weights = list(column = wcol, type = wtype),
       formulas = list(mean = "sum(w*x)/sum(w)", sd = "sqrt(sum(w*(x-mean)^2)/(sum(w)-1))",
                       sum = "sum(w*x)", sum_weights = "sum(w)",
                       note = "over rows where x and w are both non-missing; valid_n counts rows, not weights; min/max unweighted"),
       numeric = lapply(columns, function(c) c(list(name = c), wnum_stats(d[[c]], d[[wcol]]))))
}

num_cols <- function(data) names(DS[[data]])[vapply(DS[[data]], is.numeric, TRUE)]
fac_cols <- function(data) names(DS[[data]])[vapply(DS[[data]], is.factor, TRUE)]

summary_cases <- list(
  summary_case("summary_mtcars", "mtcars", c(setdiff(num_cols("mtcars"), c("w", "fw")), fac_cols("mtcars"))),
  summary_case("summary_airquality", "airquality", c(setdiff(num_cols("airquality"), c("w", "fw")), fac_cols("airquality"))),
  summary_case("summary_iris", "iris", c(num_cols("iris"), fac_cols("iris"))),
  summary_case("summary_warpbreaks", "warpbreaks", c("breaks", "wool", "tension")),
  summary_case("summary_infert", "infert", c("age", "parity", "case", "education")),
  by_case("by_iris_sepal_length_species", "iris", "Sepal.Length", "Species"),
  by_case("by_airquality_ozone_month", "airquality", "Ozone", "month_f"),
  by_case("by_warpbreaks_breaks_tension", "warpbreaks", "breaks", "tension"),
  weighted_case("weighted_mtcars_fw", "mtcars", c("mpg", "hp", "wt"), "fw", "fweights"),
  weighted_case("weighted_mtcars_w", "mtcars", c("mpg", "hp", "wt"), "w", "pweights"),
  weighted_case("weighted_airquality_fw", "airquality", c("Ozone", "Solar.R", "Temp"), "fw", "fweights")
)

## ---------------------------------------------------------------------------
## cross tabulations
## ---------------------------------------------------------------------------
xtab_case <- function(name, data, rowvar, colvar, response = NULL, wcol = NULL) {
  d <- DS[[data]]
  ## a numeric variable is tabulated by its sorted distinct values (levels as text)
  as_fac <- function(x) if (is.factor(x)) x else factor(x, levels = sort(unique(x)))
  r <- as_fac(d[[rowvar]]); cl <- as_fac(d[[colvar]])
  tab <- table(r, cl)
  counts <- matrix(as.integer(tab), nrow(tab))
  cs <- capture(chisq.test(tab, correct = FALSE))
  out <- list(name = name, data = ds_file(data), row = rowvar, col = colvar,
              row_levels = strs(levels(r)), col_levels = strs(levels(cl)),
              counts = counts,
              row_totals = arr(as.integer(rowSums(tab))), col_totals = arr(as.integer(colSums(tab))),
              total = sum(tab),
              empty_cells = sum(tab == 0),
              chisq = list(r_call = paste0("chisq.test(table(", rowvar, ", ", colvar, "), correct = FALSE)"),
                           statistic = unname(cs$value$statistic), df = unname(cs$value$parameter),
                           p_value = cs$value$p.value, expected = unname(cs$value$expected),
                           warnings = strs(cs$warnings)))
  if (!is.null(response)) {
    y <- d[[response]]
    s <- tapply(y, list(r, cl), sum)
    m <- tapply(y, list(r, cl), mean)
    s[is.na(s) & counts == 0] <- 0
    dimnames(s) <- NULL; dimnames(m) <- NULL
    out$response <- list(variable = response, sum = s, mean = m,
                         note = "empty cell: sum 0, mean null (R tapply gives NA)")
  }
  if (!is.null(wcol)) {
    wm <- tapply(d[[wcol]], list(r, cl), sum)
    wm[is.na(wm)] <- 0
    dimnames(wm) <- NULL
    out$weighted_counts <- list(weights = wcol, r_call = paste0("xtabs(", wcol, " ~ ", rowvar, " + ", colvar, ")"),
                                counts = wm)
  }
  out
}

xtab_cases <- list(
  xtab_case("xtab_warpbreaks_wool_tension", "warpbreaks", "wool", "tension", response = "breaks", wcol = "fw"),
  xtab_case("xtab_mtcars_cyl_gear", "mtcars", "cyl_f", "gear_f", response = "mpg", wcol = "fw"),
  xtab_case("xtab_infert_education_case", "infert", "education", "case", response = "age")
)

## ---------------------------------------------------------------------------
## write
## ---------------------------------------------------------------------------
META <- list(
  generated_by = "make_golden.R (Rscript make_golden.R, run in this folder)",
  r_version = R.version.string,
  packages = list(jsonlite = packageDescription("jsonlite")$Version,
                  MASS = packageDescription("MASS")$Version,
                  statmod = packageDescription("statmod")$Version,
                  stats = packageDescription("stats")$Version),
  glm_control = list(epsilon = GLM_CONTROL$epsilon, maxit = GLM_CONTROL$maxit),
  number_format = "shortest of %.15g/%.16g/%.17g that reads back to the same double; NA/NaN as null"
)

write_json_file(list(meta = META, datasets = ds_meta), "datasets.json")
write_json_file(list(meta = META, cases = lm_cases), "lm.json")
write_json_file(list(meta = META, cases = glm_cases), "glm.json")
write_json_file(list(meta = META, cases = summary_cases), "summary.json")
write_json_file(list(meta = META, cases = xtab_cases), "crosstab.json")
if (nzchar(NUMCHECK)) writeLines(numcheck_acc, NUMCHECK)
cat("wrote", length(DS), "CSV files and 5 JSON files\n")
