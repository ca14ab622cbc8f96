use wyrm::model;

// One mistake gives one error: the parameters used by a broken expression are not
// reported as unused, and the expression's arguments are still checked.
model! {
    struct UnknownMethod {
        x: Input<1, 3>,
        w: Param<3, 1>,
        y = x.matmul(w),
    }
}

model! {
    struct UnknownFunction {
        x: Input<1, 3>,
        w: Param<3, 1>,
        y = softplus(x.dot(w)),
    }
}

model! {
    struct TooManyArguments {
        x: Input<1, 3>,
        w: Param<3, 1>,
        y = x.dot(w, w),
    }
}

model! {
    struct TooFewArguments {
        w: Param<3, 1>,
        y = sparse_categorical_crossentropy(w),
    }
}

model! {
    struct DeclaredAfterUse {
        x: Input<1, 1>,
        y = w * x,
        w: Param<1, 1>,
    }
}

model! {
    struct ArgumentOfUnknownMethod {
        x: Input<1, 3>,
        w: Param<1, 3>,
        y = x.matmul(typo) + w,
    }
}

model! {
    struct ArgumentsAfterBadReceiver {
        w: Param<3, 1>,
        y = nowhere.dot(w),
    }
}

fn main() {}
